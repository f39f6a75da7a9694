"""Issue 6 acceptance: 200 concurrent requests over 3 keys, one exhausted for 2 hours and one rate
limited for 5 seconds. Every request succeeds, the exhausted key is never picked again once its
first 429 is in, and streams stay incremental.

"Never again" is checked by causality, not by time: the pool's journal numbers every pick and
cooldown, so no pick of the exhausted key may come after its first cooldown, and the simulator
must have seen exactly as many requests with that key as the pool picked it.
"""

from __future__ import annotations

import asyncio
import json
import time

import anthropic
import httpx
import openai
from google import genai
from google.genai import types

MODEL = "gemini-2.5-flash"
EXHAUSTED, LIMITED, GOOD = "sim-exhausted2h_x", "sim-limited5s_y", "good-key"
REQUESTS = 200
IN_FLIGHT = 24  # bounded, so it runs on 2 CI cores
PROMPT = "request {i}: tell me about otters [[sim chunks=5 interval_ms=60]]"
# The async openai/anthropic SDKs do more work per event; a slower stream keeps the
# "first chunk before the last send" check about the gateway, not about a busy client.
SDK_PROMPT = "request {i}: tell me about otters [[sim chunks=6 interval_ms=150]]"


async def genai_stream(c: genai.Client, i: int) -> tuple[str, list[float], str]:
    arrivals, texts, rid = [], [], ""
    async for chunk in await c.aio.models.generate_content_stream(model=MODEL, contents=PROMPT.format(i=i)):
        arrivals.append(time.monotonic())
        texts.append(chunk.text or "")
        rid = chunk.response_id or rid
    return rid, arrivals, "".join(texts)


async def genai_unary(c: genai.Client, i: int) -> tuple[str, list[float], str]:
    resp = await c.aio.models.generate_content(model=MODEL, contents=PROMPT.format(i=i))
    return resp.response_id, [], resp.text


async def raw_stream(http: httpx.AsyncClient, base: str, i: int) -> tuple[str, list[float], str]:
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT.format(i=i)}]}]}
    arrivals, texts, rid = [], [], ""
    async with http.stream("POST", f"{base}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", json=body) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
                event = json.loads(line[6:])
                rid = event.get("responseId", rid)
                texts += [p.get("text", "") for p in event["candidates"][0]["content"].get("parts", [])]
    return rid, arrivals, "".join(texts)


async def openai_stream(c: openai.AsyncOpenAI, i: int) -> tuple[str, list[float], str]:
    arrivals, texts = [], []
    stream = await c.chat.completions.create(model=MODEL, stream=True,
                                             messages=[{"role": "user", "content": SDK_PROMPT.format(i=i)}])
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
            texts.append(chunk.choices[0].delta.content)
    return "", arrivals, "".join(texts)


async def anthropic_stream(c: anthropic.AsyncAnthropic, i: int) -> tuple[str, list[float], str]:
    arrivals, texts = [], []
    async with c.messages.stream(model=MODEL, max_tokens=1024,
                                 messages=[{"role": "user", "content": SDK_PROMPT.format(i=i)}]) as stream:
        async for text in stream.text_stream:
            arrivals.append(time.monotonic())
            texts.append(text)
    return "", arrivals, "".join(texts)


KINDS = ("genai-stream", "genai-unary", "httpx-stream", "openai-stream", "anthropic-stream")


async def load(base: str) -> list[tuple[str, str, list[float], str]]:
    gate = asyncio.Semaphore(IN_FLIGHT)
    c = genai.Client(api_key="any", http_options=types.HttpOptions(base_url=base, api_version="v1beta"))
    oai = openai.AsyncOpenAI(base_url=base + "/v1", api_key="any", max_retries=0)
    claude = anthropic.AsyncAnthropic(base_url=base, api_key="any", max_retries=0)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=IN_FLIGHT)) as http:
        async def one(i: int):
            async with gate:
                kind = KINDS[i % len(KINDS)]
                if kind == "genai-stream":
                    return (kind, *await genai_stream(c, i))
                if kind == "genai-unary":
                    return (kind, *await genai_unary(c, i))
                if kind == "openai-stream":
                    return (kind, *await openai_stream(oai, i))
                if kind == "anthropic-stream":
                    return (kind, *await anthropic_stream(claude, i))
                return (kind, *await raw_stream(http, base, i))

        try:
            return await asyncio.gather(*(one(i) for i in range(REQUESTS)))
        finally:
            await oai.close()
            await claude.close()


def served_record(log, i: int):
    """The simulator's record of the request that answered prompt `i` (found by its text)."""
    marker = f"request {i}:"
    for record in log:
        if record.status == 200 and record.request and marker in json.dumps(record.request.get("contents")):
            return record
    raise AssertionError(f"no successful upstream request carried {marker!r}")


def test_200_concurrent_requests_over_an_exhausted_a_limited_and_a_good_key(start_gateway):
    gw = start_gateway(keys=[EXHAUSTED, LIMITED, GOOD])
    results = asyncio.run(load(gw.url))

    assert len(results) == REQUESTS
    for kind, rid, _, text in results:
        assert "otters" in text, kind
        assert rid or kind in ("openai-stream", "anthropic-stream"), kind

    pool = gw.addon.runtime.services.pool
    exhausted = next(a for a in pool.accounts if a.secret == EXHAUSTED)
    journal = list(pool.journal)
    first_cooldown = min(seq for seq, event, acct, _ in journal if event == "cool_down" and acct == exhausted.id)
    picks = [seq for seq, event, acct, _ in journal if event == "pick" and acct == exhausted.id]
    assert picks and all(seq < first_cooldown for seq in picks), "picked again after its first 429"
    sent = [r for r in gw.sim.log if r.api_key == EXHAUSTED]
    assert len(sent) == len(picks) <= IN_FLIGHT and all(r.status == 429 for r in sent if r.status)
    assert pool.cooling(exhausted, MODEL).until - time.time() > 3600, "the 2-hour reset is honoured, uncapped"

    served = [served_record(gw.sim.log, i) for i in range(REQUESTS)]
    assert {r.api_key for r in served} <= {LIMITED, GOOD} and EXHAUSTED not in {r.api_key for r in served}
    assert {kind for kind, *_ in results} == set(KINDS), "the three SDKs (and raw HTTP) all took part"
    streams = [(served[i], kind, arrivals) for i, (kind, _, arrivals, _) in enumerate(results) if kind != "genai-unary"]
    assert len(streams) > REQUESTS // 2
    for record, kind, arrivals in streams:
        if kind.startswith(("genai", "httpx")):
            assert len(arrivals) == len(record.event_times) >= 4
        else:
            assert len(arrivals) >= 4, kind
        # incremental: the client had the first chunk before the simulator sent the last event
        assert arrivals[0] < record.event_times[-1], kind

    limited = next(a for a in pool.accounts if a.secret == LIMITED)
    assert any(r.api_key == LIMITED and r.status == 429 for r in gw.sim.log)
    if cd := pool.cooling(limited, MODEL):  # once its 5 s are over, the limited key serves again
        time.sleep(max(0.0, cd.until - time.time()) + 0.1)
    for i in range(4):
        body = {"contents": [{"role": "user", "parts": [{"text": f"after the window, chat {i}"}]}]}
        assert httpx.post(f"{gw.url}/v1beta/models/{MODEL}:generateContent", json=body, timeout=30).status_code == 200
    assert gw.sim.log[-1].api_key in (LIMITED, GOOD)
    assert any(r.api_key == LIMITED and r.status == 200 for r in gw.sim.log)
