"""Usage recorded in `stats.sqlite3` matches what the official SDKs saw, per protocol.

Each protocol contributes `Seen` rows through its own SDK; adding a protocol is one more
function in `CLIENTS`. Rows keep Gemini's `usageMetadata` terms, so each function converts what
its SDK reported back into them (Anthropic's input leaves out the cached part and its output
includes thinking; OpenAI's output includes the reasoning it also states apart); the mapped
model, account and attempts come from the simulator's log of upstream calls. `[[sim cached=N]]`
makes the upstream report cached prompt tokens. Streams a client cuts short are still recorded.
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

import anthropic
import httpx
import openai
from google import genai
from google.genai import types

import pngcheck

BIN = Path(sys.executable).parent
MODEL = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4-5"  # a thinking Claude-family upstream, through the built-in alias
GPT = "gpt-4o"


@dataclass
class Seen:
    """One SDK call: what the SDK reported, in the hub's (Gemini `usageMetadata`) terms, and which
    upstream calls the simulator saw for it.

    `thinking=None` means the protocol does not report thinking apart: `output` then counts both,
    as Anthropic's `output_tokens` does."""

    protocol: str
    route: str
    model: str
    input: int
    output: int
    thinking: int | None = 0
    cached: int = 0
    mapped: str = ""
    account: str = ""
    attempts: int = 0


class Upstream:
    """The simulator's log, cut per SDK call: the mapped model, the account and the attempts."""

    def __init__(self, gw) -> None:
        self.gw = gw
        self.seen = len(gw.sim.log)
        self.labels = {json.loads(f.read_text())["api_key"]: f.stem for f in (gw.home / "accounts").glob("*.json")}

    def stamp(self, s: Seen) -> Seen:
        calls = [r for r in self.gw.sim.log[self.seen:] if r.model]
        self.seen = len(self.gw.sim.log)
        assert calls and calls[-1].status == 200, calls
        s.mapped, s.account, s.attempts = calls[-1].model, self.labels[calls[-1].api_key], len(calls)
        return s


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
    up = Upstream(gw)
    c = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta"))
    thinking = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))

    def seen(u) -> Seen:
        return up.stamp(Seen("gemini", "gemini", MODEL, u.prompt_token_count or 0, u.candidates_token_count or 0,
                             u.thoughts_token_count or 0, u.cached_content_token_count or 0))

    last = None
    for chunk in c.models.generate_content_stream(model=MODEL, contents="go [[sim chunks=4 thoughts=2 cached=2]]",
                                                  config=thinking):
        last = chunk.usage_metadata or last
    out = [seen(last)]
    out.append(seen(c.models.generate_content(model=MODEL, contents="and again").usage_metadata))
    return out


def anthropic_calls(gw) -> list[Seen]:
    """Anthropic's `input_tokens` leaves out the cached part; its `output_tokens` include thinking."""
    up = Upstream(gw)
    c = anthropic.Anthropic(base_url=gw.url, api_key="client-key", max_retries=0)

    def seen(u) -> Seen:
        cached = u.cache_read_input_tokens or 0
        return up.stamp(Seen("anthropic", "messages", CLAUDE, u.input_tokens + cached, u.output_tokens, None, cached))

    kw = dict(model=CLAUDE, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
              messages=[{"role": "user", "content": "Tell me about otters [[sim chunks=3 thoughts=2 cached=3]]"}])
    with c.messages.stream(**kw) as stream:
        final = stream.get_final_message()
    assert any(b.type == "thinking" for b in final.content)
    out = [seen(final.usage)]
    out.append(seen(c.messages.create(model=CLAUDE, max_tokens=512,
                                      messages=[{"role": "user", "content": "and now badgers [[sim cached=2]]"}]).usage))
    return out


def openai_calls(gw) -> list[Seen]:
    """OpenAI's completion/output tokens include the reasoning tokens they also state apart."""
    up = Upstream(gw)
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-anything", max_retries=0)

    def chat(u) -> Seen:
        reasoning = u.completion_tokens_details.reasoning_tokens or 0
        return up.stamp(Seen("openai", "chat", GPT, u.prompt_tokens, u.completion_tokens - reasoning, reasoning,
                             u.prompt_tokens_details.cached_tokens or 0))

    def responses(u) -> Seen:
        reasoning = u.output_tokens_details.reasoning_tokens or 0
        return up.stamp(Seen("openai", "responses", GPT, u.input_tokens, u.output_tokens - reasoning, reasoning,
                             u.input_tokens_details.cached_tokens or 0))

    messages = [{"role": "user", "content": "Think about tea [[sim chunks=3 cached=2]]"}]
    chunks = list(c.chat.completions.create(model=GPT, messages=messages, reasoning_effort="low", stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0
    out = [chat(chunks[-1].usage)]
    out.append(chat(c.chat.completions.create(model=GPT, messages=[{"role": "user", "content": "and coffee"}]).usage))
    legacy = c.completions.create(model=GPT, prompt="Once upon a time").usage
    out.append(up.stamp(Seen("openai", "completions", GPT, legacy.prompt_tokens, legacy.completion_tokens, None)))
    reasoning = {"effort": "low", "summary": "auto"}
    with c.responses.stream(model=GPT, input="why is the sky blue [[sim chunks=3 cached=2]]", reasoning=reasoning) as stream:
        final = stream.get_final_response()
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    out.append(responses(final.usage))
    out.append(responses(c.responses.create(model=GPT, input="hello there", instructions="Be brief.").usage))
    return out


CLIENTS = [gemini_calls, anthropic_calls, openai_calls]


def test_rows_match_what_the_sdks_saw(start_gateway):
    gw = start_gateway(keys=["sim-429-retry30s_a", "good-key"])
    seen = [s for client in CLIENTS for s in client(gw)]
    recorded = sorted(wait_for_rows(gw, lambda rs: len([r for r in rs if r["account"]]) >= len(seen)),
                      key=lambda r: r["ts"])  # a stream's row is written as it ends: order by arrival
    recorded = [r for r in recorded if r["account"]]
    assert len(recorded) == len(seen)
    for row, s in zip(recorded, seen, strict=True):
        got = {k: row[k] for k in ("protocol", "route", "client_model", "mapped_model", "account", "status",
                                   "attempts", "outcome", "input_tokens", "output_tokens", "cached_tokens")}
        want = {"protocol": s.protocol, "route": s.route, "client_model": s.model, "mapped_model": s.mapped,
                "account": s.account, "status": 200, "attempts": s.attempts, "outcome": "ok",
                "input_tokens": s.input, "output_tokens": s.output, "cached_tokens": s.cached}
        if s.thinking is None:  # stated together: the row's split must add up to the SDK's output
            got["output_tokens"] += row["thinking_tokens"]
        else:
            got["thinking_tokens"], want["thinking_tokens"] = row["thinking_tokens"], s.thinking
        assert got == want, f"{s.protocol}/{s.route}"
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0
        assert row["latency_ms"] >= row["ttfb_ms"] >= 0
    assert recorded[0]["attempts"] == 2 and recorded[0]["account"] == "key-2", "the 429 then the answer"
    assert recorded[0]["thinking_tokens"] > 0
    assert {(s.protocol, s.route) for s in seen} == {("gemini", "gemini"), ("anthropic", "messages"),
                                                     ("openai", "chat"), ("openai", "completions"),
                                                     ("openai", "responses")}
    thinking = [r for r, s in zip(recorded, seen) if s.thinking]
    assert {r["route"] for r in thinking} == {"gemini", "chat", "responses"}, "thinking recorded apart"
    cached = {(s.protocol, s.route) for s in seen if s.cached}
    assert cached == {("gemini", "gemini"), ("anthropic", "messages"), ("openai", "chat"), ("openai", "responses")}
    claude_stream = next(r for r in recorded if r["route"] == "messages")
    assert claude_stream["thinking_tokens"] > 0, "Anthropic's output_tokens hid it; the row keeps it apart"


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
    seen = [s for client in CLIENTS for s in client(gw)]
    recorded = wait_for_rows(gw, lambda rs: len([r for r in rs if r["account"]]) >= len(seen))
    assert {r["protocol"] for r in recorded} == {"gemini", "anthropic", "openai"}, "a mixed run"
    out = subprocess.run([str(BIN / "interlock"), "stats", "--home", str(gw.home), "--json",
                          "--png", str(tmp_path / "chart.png")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    keys = ("requests", "input_tokens", "output_tokens", "cached_tokens", "thinking_tokens", "total_tokens")

    def sums(rs: list[dict]) -> dict[str, int]:
        got = {k: sum(r[k] for r in rs) for k in keys[1:-1]}
        return {"requests": len(rs), **got,
                "total_tokens": got["input_tokens"] + got["output_tokens"] + got["thinking_tokens"]}

    assert {k: doc["totals"][k] for k in keys} == sums(recorded)
    for group in ("account", "model", "hour", "day"):
        for k in keys:
            assert sum(g[k] for g in doc[f"by_{group}"]) == doc["totals"][k], (group, k)
    for g in doc["by_account"]:
        assert {k: g[k] for k in keys} == sums([r for r in recorded if (r["account"] or "(local)") == g["account"]])
    for g in doc["by_model"]:
        assert {k: g[k] for k in keys} == sums([r for r in recorded
                                                if (r["mapped_model"] or r["client_model"] or "(none)") == g["model"]])
    assert {g["model"] for g in doc["by_model"]} >= {"gemini-2.5-flash", "claude-sonnet-4-6"}
    width, height, _ = pngcheck.decode((tmp_path / "chart.png").read_bytes())
    assert width > 0 and height > 0
