"""`interlock stats`: usage from `stats.sqlite3` by account, model, hour and day.

Rich tables and a per-hour bar chart for people, `--json` for scripts, `--png FILE` for a chart
image; `--since 24h|7d|2025-06-01|all` picks the window.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from addon import config, png, stats

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
COLUMNS = ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "thinking_tokens",
           "avg_latency_ms", "avg_ttfb_ms")
INPUT, OUTPUT, THINKING = (66, 133, 244), (251, 140, 0), (142, 68, 173)
_SPARK = "▁▂▃▄▅▆▇█"
_HEADERS = {"requests": "req", "errors": "err", "input_tokens": "in", "output_tokens": "out",
            "cached_tokens": "cached", "thinking_tokens": "think", "avg_latency_ms": "avg ms",
            "avg_ttfb_ms": "ttfb ms"}


def parse_since(text: str, now: float | None = None) -> float | None:
    """'30m', '24h', '7d', '2w', an ISO date or date-time (local time), or 'all' → unix seconds or None."""
    now = time.time() if now is None else now
    text = text.strip()
    if text == "all":
        return None
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)([mhdw])", text):
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since {text!r}: use 30m, 24h, 7d, 2w, 2025-06-01[T10:00] or all") from None


def hours(by_hour: list[dict]) -> list[dict]:
    """The per-hour rows with the empty hours between them filled in, so a chart shows the gaps."""
    if not by_hour:
        return []
    have = {r["hour"]: r for r in by_hour}
    fmt = "%Y-%m-%d %H:00"
    at, last = datetime.strptime(by_hour[0]["hour"], fmt), datetime.strptime(by_hour[-1]["hour"], fmt)
    filled = []
    while at <= last:
        key = at.strftime(fmt)
        filled.append(have.get(key) or {"hour": key, **{c: 0 for c in COLUMNS}, "total_tokens": 0})
        at += timedelta(hours=1)
    return filled


def sparkline(values: list[float]) -> str:
    peak = max(values, default=0)
    if not peak:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(len(_SPARK) - 1, int(v / peak * (len(_SPARK) - 1) + 0.5))] if v else " "
                   for v in values)


def chart_png(summary: dict) -> bytes:
    rows = hours(summary["by_hour"])[-72:]
    labels = [r["hour"][11:13] for r in rows]
    return png.stacked_bars(labels, [(INPUT, [r["input_tokens"] for r in rows]),
                                     (OUTPUT, [r["output_tokens"] for r in rows]),
                                     (THINKING, [r["thinking_tokens"] for r in rows])])


def _table(title: str, key: str, rows: list[dict]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column(key, no_wrap=True)
    for col in COLUMNS:
        table.add_column(_HEADERS[col], justify="right")
    for r in rows:
        table.add_row(str(r[key]), *(f"{r[c]:,}" if isinstance(r[c], int) else f"{r[c]:,.0f}" for c in COLUMNS))
    return table


def render(summary: dict, console: Console) -> None:
    t = summary["totals"]
    since = summary["since"]
    window = "all time" if since is None else f"since {datetime.fromtimestamp(since):%Y-%m-%d %H:%M}"
    console.print(f"[bold]interlock usage[/] {window}  ({summary['database']})")
    console.print(f"{t['requests']:,} requests, {t['errors']:,} errors; tokens in {t['input_tokens']:,} "
                  f"out {t['output_tokens']:,} cached {t['cached_tokens']:,} thinking {t['thinking_tokens']:,}")
    if not t["requests"]:
        console.print("nothing recorded in this window")
        return
    for name in ("account", "model", "day"):
        console.print(_table(f"by {name}", name, summary[f"by_{name}"]))
    filled = hours(summary["by_hour"])
    console.print(_table("by hour (last 24)", "hour", [r for r in filled if r["requests"]][-24:]))
    recent = filled[-48:]
    console.print(f"[bold]tokens per hour[/] {recent[0]['hour']} … {recent[-1]['hour']}")
    console.print(f"  [cyan]{sparkline([r['total_tokens'] for r in recent])}[/]")
    peak = max((r["total_tokens"] for r in recent), default=0) or 1
    for r in recent[-24:]:
        bar = "█" * round(r["total_tokens"] / peak * 40)
        console.print(f"  {r['hour'][5:]}  {bar:<40} {png.short(r['total_tokens']):>6}  {r['requests']} req")


def cmd_stats(args: argparse.Namespace) -> int:
    home = config.home_dir(args.home)
    summary = stats.summary(home / stats.FILENAME, args.since)
    if args.png:
        Path(args.png).write_bytes(chart_png(summary))
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        console = Console()
        render(summary, console)
        if args.png:
            console.print(f"chart written to {args.png}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("stats", help="token usage by account, model, hour and day")
    p.add_argument("--home", help="data directory (default: $INTERLOCK_HOME or ~/.interlock)")
    p.add_argument("--since", type=parse_since, default=parse_since("7d"),
                   help="window: 30m, 24h, 7d (default), 2w, an ISO date/time, or 'all'")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--png", metavar="FILE", help="also write a per-hour token chart as a PNG image")
    p.set_defaults(func=cmd_stats)
