"""The stats database, the `interlock stats` summary and chart, without a gateway."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime

import pytest

import pngcheck
from addon import png, stats, stats_cli

NOW = datetime(2025, 6, 1, 12, 30).timestamp()


def row(ts: float, account: str = "key-1", model: str = "gemini-2.5-flash", **tokens) -> dict:
    base = {"ts": ts, "protocol": "gemini", "route": "gemini", "method": "POST", "path": "/v1beta/models/x",
            "client_model": model, "mapped_model": model, "account": account, "status": 200, "attempts": 1,
            "latency_ms": 100.0, "ttfb_ms": 10.0, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0,
            "thinking_tokens": 0, "outcome": "ok", "error_class": ""}
    return {**base, **tokens}


def fill(path, rows: list[dict]) -> None:
    writer = stats.StatsWriter(path)
    for r in rows:
        writer.add(r)
    assert writer.flush()
    writer.close()


def test_summary_groups_by_account_model_hour_and_day(tmp_path):
    db = tmp_path / "stats.sqlite3"
    fill(db, [row(NOW - 7200, input_tokens=10, output_tokens=5),
              row(NOW, "key-2", input_tokens=20, output_tokens=7, thinking_tokens=3, cached_tokens=4),
              row(NOW, "", "", status=404, outcome="error", error_class="NotFound"),
              row(NOW - 30 * 86400, input_tokens=1000)])
    s = stats.summary(db, NOW - 86400)
    assert s["totals"]["requests"] == 3 and s["totals"]["errors"] == 1
    assert s["totals"]["input_tokens"] == 30 and s["totals"]["total_tokens"] == 45
    assert {r["account"]: r["input_tokens"] for r in s["by_account"]} == {"key-2": 20, "key-1": 10, "(local)": 0}
    assert [r["hour"][11:] for r in s["by_hour"]] == ["10:00", "12:00"]
    assert [r["day"] for r in s["by_day"]] == ["2025-06-01"]
    assert stats.summary(db, None)["totals"]["input_tokens"] == 1030
    filled = stats_cli.hours(s["by_hour"])
    assert [r["hour"][11:] for r in filled] == ["10:00", "11:00", "12:00"] and filled[1]["requests"] == 0


def test_a_missing_database_is_an_empty_summary(tmp_path):
    s = stats.summary(tmp_path / "none.sqlite3")
    assert s["totals"]["requests"] == 0 and s["by_model"] == []


def test_wal_and_rows_survive_a_killed_process(tmp_path):
    db = tmp_path / "stats.sqlite3"
    script = (f"import os\nfrom pathlib import Path\nfrom addon import stats\n"
              f"w = stats.StatsWriter(Path({str(db)!r}))\n"
              f"for i in range(50): w.add({row(NOW, input_tokens=1)!r})\n"
              f"assert w.flush()\nos._exit(9)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 9, out.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT SUM(input_tokens) FROM requests").fetchone()[0] == 50


def test_writes_do_not_wait_for_the_disk(tmp_path):
    writer = stats.StatsWriter(tmp_path / "stats.sqlite3")
    start = time.perf_counter()
    for i in range(2000):
        writer.add(row(NOW + i, input_tokens=1))
    queued = time.perf_counter() - start
    assert writer.flush()
    writer.close()
    assert stats.summary(tmp_path / "stats.sqlite3")["totals"]["input_tokens"] == 2000
    assert queued < 5, "add() only queues"  # generous: the point is it never commits inline


def test_since_accepts_durations_dates_and_all():
    assert stats_cli.parse_since("24h", now=NOW) == NOW - 86400
    assert stats_cli.parse_since("30m", now=NOW) == NOW - 1800
    assert stats_cli.parse_since("2025-06-01", now=NOW) == datetime(2025, 6, 1).timestamp()
    assert stats_cli.parse_since("all") is None
    with pytest.raises(argparse.ArgumentTypeError):
        stats_cli.parse_since("yesterday")


def test_sparkline_scales_to_the_peak():
    assert stats_cli.sparkline([0, 1, 8]) == " ▂█"
    assert stats_cli.sparkline([0, 0]) == "▁▁"


def test_png_encoder_writes_what_it_drew():
    canvas = png.Canvas(4, 3)
    canvas.rect(1, 1, 3, 2, (255, 0, 0))
    width, height, rows = pngcheck.decode(canvas.png())
    assert (width, height) == (4, 3)
    assert rows[1][3:6] == b"\xff\x00\x00" and rows[0][3:6] == b"\xff\xff\xff"


def test_chart_has_a_bar_per_hour_in_the_series_colours(tmp_path):
    db = tmp_path / "stats.sqlite3"
    fill(db, [row(NOW - 3600 * h, input_tokens=100 * (h + 1), output_tokens=50) for h in range(5)])
    width, height, rows = pngcheck.decode(stats_cli.chart_png(stats.summary(db, None)))
    pixels = {bytes(r[i:i + 3]) for r in rows for i in range(0, len(r), 3)}
    assert bytes(stats_cli.INPUT) in pixels and bytes(stats_cli.OUTPUT) in pixels
    assert width >= 5 * 18


def test_rich_output_names_every_breakdown(tmp_path, capsys):
    db = tmp_path / "stats.sqlite3"
    fill(db, [row(NOW, input_tokens=12, output_tokens=3)])
    assert stats_cli.cmd_stats(argparse.Namespace(home=str(tmp_path), since=None, json=False, png=None)) == 0
    out = capsys.readouterr().out
    for title in ("by account", "by model", "by day", "by hour", "tokens per hour"):
        assert title in out
    assert "key-1" in out and "gemini-2.5-flash" in out


def test_os_environ_home_is_used(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INTERLOCK_HOME", str(tmp_path))
    fill(tmp_path / "stats.sqlite3", [row(time.time(), input_tokens=7)])
    assert stats_cli.cmd_stats(argparse.Namespace(home=None, since=None, json=True, png=None)) == 0
    assert '"input_tokens": 7' in capsys.readouterr().out
    assert os.environ["INTERLOCK_HOME"] == str(tmp_path)
