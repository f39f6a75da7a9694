"""Usage recorded in `stats.sqlite3` matches what the official SDKs saw, per protocol.

Each protocol contributes `Seen` rows through its own SDK; adding a protocol is one more
function in `CLIENTS`. Streams a client cuts short are still recorded.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from google import genai
from google.genai import types

import pngcheck

BIN = Path(sys.executable).parent
MODEL = "gemini-2.5-flash"


@dataclass
class Seen:
    """What one SDK call reported: the protocol, the model it named, and its usage."""

    protocol: str
    model: str
    input: int
    output: int
    thinking: int = 0
    cached: int = 0


def rows(gw) -> list[dict]:
    assert gw.addon.stats.flush()
    conn = sqlite3.connect(gw.home / "stats.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM requests ORDER BY id")]
    finally:
        conn.close()


def wait_for_rows(gw, predicate, deadline_s: float = 20.0) -> list[dict]:
    end = time.monotonic() + deadline_s
    while True:
        found = rows(gw)
        if predicate(found) or time.monotonic() > end:
            return found
        time.sleep(0.05)


def gemini_calls(gw) -> list[Seen]:
    c = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta"))
    thinking = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    last = None
    for chunk in c.models.generate_content_stream(model=MODEL, contents="go [[sim chunks=4 thoughts=2]]",
                                                  config=thinking):
        last = chunk.usage_metadata or last
    whole = c.models.generate_content(model=MODEL, contents="and again").usage_metadata
    return [Seen("gemini", MODEL, u.prompt_token_count or 0, u.candidates_token_count or 0,
                 u.thoughts_token_count or 0, u.cached_content_token_count or 0) for u in (last, whole)]


CLIENTS = [gemini_calls]  # the OpenAI and Anthropic SDKs join here as their endpoints land


def test_rows_match_what_the_sdks_saw(start_gateway):
    gw = start_gateway(keys=["sim-429-retry30s_a", "good-key"])
    seen = [s for client in CLIENTS for s in client(gw)]
    recorded = [r for r in rows(gw) if r["account"]]
    assert len(recorded) == len(seen)
    for row, s in zip(recorded, seen, strict=True):
        assert (row["protocol"], row["client_model"], row["status"], row["outcome"]) == (s.protocol, s.model, 200, "ok")
        assert (row["input_tokens"], row["output_tokens"], row["thinking_tokens"], row["cached_tokens"]) == \
            (s.input, s.output, s.thinking, s.cached)
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0
        assert row["latency_ms"] >= row["ttfb_ms"] >= 0
    assert recorded[0]["attempts"] == 2 and recorded[0]["account"] == "key-2", "the 429 then the answer"
    assert recorded[0]["thinking_tokens"] > 0
    assert recorded[1]["attempts"] == 1


def test_a_stream_cut_short_is_still_counted(start_gateway, caplog):
    gw = start_gateway()
    url = f"{gw.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": "long [[sim chunks=200 interval_ms=20]]"}]}]}
    with httpx.stream("POST", url, json=body, timeout=30) as r:
        first = next(r.iter_raw())
    assert b"usageMetadata" in first
    found = wait_for_rows(gw, lambda rs: any(x["outcome"] == "cut short" for x in rs))
    cut = [x for x in found if x["outcome"] == "cut short"]
    assert len(cut) == 1 and cut[0]["input_tokens"] > 0 and cut[0]["status"] == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no addon error on the way"


def test_errors_are_recorded_with_their_class(start_gateway):
    gw = start_gateway(keys=["sim-503_a", "sim-503_b", "sim-503_c"])
    r = httpx.post(f"{gw.url}/v1beta/models/{MODEL}:generateContent",
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, timeout=30)
    assert r.status_code == 503
    row = [x for x in rows(gw) if x["route"] == "gemini"][-1]
    assert (row["status"], row["attempts"], row["error_class"], row["outcome"]) == (503, 3, "PoolExhausted", "error")

def test_stats_json_sums_equal_the_rows(start_gateway, tmp_path):
    gw = start_gateway(keys=["sim-429-retry30s_a", "good-key"])
    for client in CLIENTS:
        client(gw)
    recorded = rows(gw)
    out = subprocess.run([str(BIN / "interlock"), "stats", "--home", str(gw.home), "--json",
                          "--png", str(tmp_path / "chart.png")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in ("input_tokens", "output_tokens", "cached_tokens", "thinking_tokens"):
        assert doc["totals"][key] == sum(r[key] for r in recorded)
        for group in ("account", "model", "hour", "day"):
            assert sum(g[key] for g in doc[f"by_{group}"]) == doc["totals"][key]
    assert doc["totals"]["requests"] == len(recorded)
    width, height, _ = pngcheck.decode((tmp_path / "chart.png").read_bytes())
    assert width > 0 and height > 0
