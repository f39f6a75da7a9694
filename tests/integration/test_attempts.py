"""Retries, rotation, cooldowns and stream endings, driven through the simulator's fault keys."""

from __future__ import annotations

import json
import time

import httpx
from google import genai
from google.genai import types

MODEL = "gemini-2.5-flash"


def body(text: str = "hello") -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def stream_url(gw) -> str:
    return f"{gw.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"


def sse_events(raw: str) -> list[dict]:
    return [json.loads(line[6:]) for line in raw.split("\r\n") if line.startswith("data: ")]


def keys_tried(gw) -> list[str]:
    return [r.api_key for r in gw.sim.log if r.path.endswith(":streamGenerateContent")]


def test_stream_429_rotates_to_second_key_and_still_streams(start_gateway):
    gw = start_gateway(keys=["sim-429-retry30s_a", "good-key"])
    c = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta"))
    arrivals = []
    for _ in c.models.generate_content_stream(model=MODEL, contents="go [[sim chunks=8 interval_ms=60]]"):
        arrivals.append(time.monotonic())
    assert keys_tried(gw) == ["sim-429-retry30s_a", "good-key"]
    sent = gw.sim.log[-1].event_times
    assert len(arrivals) == len(sent)
    assert all(arrivals[i] < sent[i + 2] for i in range(len(sent) - 2))
    comment = gw.recorder.flows[-1].comment
    assert "attempts=429,200" in comment and "key-1: 429" in comment


def test_all_keys_cooling_down_answers_429_with_retry_after(start_gateway):
    gw = start_gateway(keys=["sim-429-retry30s_a", "sim-429-retry45s_b"])
    r = httpx.post(stream_url(gw), json=body(), timeout=30)
    assert r.status_code == 429
    assert 29 <= int(r.headers["retry-after"]) <= 30
    err = r.json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED" and "key-1: 429" in err["message"] and "key-2: 429" in err["message"]
    again = httpx.post(stream_url(gw), json=body(), timeout=30)
    assert again.status_code == 429 and len(keys_tried(gw)) == 2, "cooling accounts must not be asked again"


def test_short_hint_retries_the_same_account(start_gateway):
    gw = start_gateway(keys=["sim-429x1-retry1s"])
    r = httpx.post(stream_url(gw), json=body(), timeout=30)
    assert r.status_code == 200 and sse_events(r.text)[-1]["candidates"][0]["finishReason"] == "STOP"
    assert keys_tried(gw) == ["sim-429x1-retry1s"] * 2


def test_503_storm_gives_up_after_three_attempts(start_gateway):
    gw = start_gateway(keys=["sim-503_a", "sim-503_b", "sim-503_c", "sim-503_d"])
    r = httpx.post(f"{gw.url}/v1beta/models/{MODEL}:generateContent", json=body(), timeout=30)
    assert r.status_code == 503 and "x-should-retry" not in r.headers
    assert len(keys_tried(gw)) == 3
    assert r.headers["x-interlock-attempts"] == "503,503,503"


def test_stream_that_ends_before_its_first_event_is_retried(start_gateway):
    gw = start_gateway(keys=["sim-cut0_a", "good"])
    r = httpx.post(stream_url(gw), json=body(), timeout=30)
    assert r.status_code == 200 and keys_tried(gw) == ["sim-cut0_a", "good"]


def test_midstream_error_after_first_byte_ends_the_stream_truthfully(start_gateway):
    gw = start_gateway(keys=["sim-midstream-error2", "good"])
    r = httpx.post(stream_url(gw), json=body("x [[sim chunks=6]]"), timeout=30)
    assert r.status_code == 200
    assert len(keys_tried(gw)) == 1, "no retry once the client has bytes"
    events = sse_events(r.text)
    assert len(events) == 2
    tail = r.text[r.text.rindex("\r\n\r\n") + 4:]
    assert json.loads(tail)["error"]["status"] == "UNAVAILABLE"


def test_cut_stream_is_reported_not_silently_truncated(start_gateway):
    gw = start_gateway(keys=["sim-eof2"])
    r = httpx.post(f"{gw.url}/v1beta/models/{MODEL}:generateContent", json=body("x [[sim chunks=6]]"), timeout=30)
    assert r.status_code == 502 and "finishReason" in r.json()["error"]["message"]


def test_keepalive_while_upstream_is_silent(start_gateway):
    gw = start_gateway(options={"keepalive_interval_s": 0.2})
    r = httpx.post(stream_url(gw), json=body("x [[sim chunks=2 interval_ms=900]]"), timeout=30)
    assert r.status_code == 200
    between = r.text.split("data: ")[1]
    assert "\r\n\r\n\r\n" in between, "blank-line keep-alives between the two events"
    assert sse_events(r.text)[-1]["candidates"][0]["finishReason"] == "STOP"


def test_client_disconnect_closes_the_upstream(gateway):
    with httpx.Client(timeout=30) as c:
        with c.stream("POST", stream_url(gateway), json=body("x [[sim chunks=200 interval_ms=30]]")) as r:
            seen = 0
            for line in r.iter_lines():
                if line.startswith("data: "):
                    seen += 1
                if seen == 3:
                    break
    deadline = time.monotonic() + 10
    while not gateway.sim.log[-1].client_gone and time.monotonic() < deadline:
        time.sleep(0.05)
    record = gateway.sim.log[-1]
    assert record.client_gone and len(record.event_times) < 200
    deadline = time.monotonic() + 10
    while gateway.addon.runtime.bridge.parked_count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.addon.runtime.bridge.parked_count == 0


def test_unreachable_upstream_is_a_clear_503(start_gateway):
    gw = start_gateway(keys=["k1", "k2"], options={"gemini_base_url": "http://127.0.0.1:9"})
    r = httpx.post(stream_url(gw), json=body(), timeout=30)
    assert r.status_code == 503
    assert "ConnectError" in r.json()["error"]["message"]
