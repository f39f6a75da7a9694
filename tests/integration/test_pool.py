"""The pool inside a running gateway: explanations, live account changes, sticky sessions, restarts."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from addon.pool.store import AccountStore, OAuthFile

MODEL = "gemini-2.5-flash"


def body(text: str = "hello there, gateway") -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def url(gw, method: str = "generateContent") -> str:
    return f"{gw.url}/v1beta/models/{MODEL}:{method}"


def keys_tried(gw) -> list[str]:
    return [r.api_key for r in gw.sim.log if r.path.endswith(":streamGenerateContent")]


def test_debug_header_explains_the_decision(start_gateway):
    gw = start_gateway(keys=["sim-429-retry30s_a", "good-key"])
    first = httpx.post(url(gw), json=body(), headers={"x-interlock-debug": "1"}, timeout=30)
    assert first.status_code == 200
    why = first.headers["x-interlock-why"]
    assert "attempt 1 for gemini-2.5-flash" in why and "attempt 2" in why and "already tried" in why
    second = httpx.post(url(gw), json=body(), headers={"x-interlock-debug": "1"}, timeout=30)
    assert "key-1 skip: cooling down" in second.headers["x-interlock-why"]
    assert "x-interlock-why" not in httpx.post(url(gw), json=body(), timeout=30).headers


def test_a_conversation_stays_on_its_account(start_gateway):
    gw = start_gateway(keys=["k1", "k2", "k3"])
    for text in ("conversation one, first turn", "conversation two, first turn"):
        for _ in range(3):
            assert httpx.post(url(gw), json=body(text), timeout=30).status_code == 200
    tried = keys_tried(gw)
    assert len(set(tried[:3])) == 1 and len(set(tried[3:])) == 1 and tried[0] != tried[3]


def test_account_changes_apply_without_restart(start_gateway):
    gw = start_gateway(keys=["k1", "k2"])
    store = AccountStore(gw.home / "accounts")
    store.update("key-1", enabled=False, disabled_reason="paused by test")
    time.sleep(1.1)  # the pool looks at the files at most once a second
    for i in range(4):
        assert httpx.post(url(gw), json=body(f"turn {i} of a new chat"), timeout=30).status_code == 200
    assert set(keys_tried(gw)) == {"k2"}


def test_oauth_accounts_go_to_cloud_code_after_a_token_refresh(start_gateway, tmp_path):
    gw = start_gateway(keys=["k1"], settings={"oauth_token_url": "http://127.0.0.1:9/token"})
    store = AccountStore(gw.home / "accounts")
    store.remove("key-1")
    store.create(OAuthFile(kind="google_oauth", refresh_token="1//0refresh-xyz-0001", label="me"))
    time.sleep(1.1)
    r = httpx.post(url(gw), json=body(), timeout=30)
    assert r.status_code == 503
    assert "me: token endpoint unreachable" in r.json()["error"]["message"]


def test_cooldowns_survive_a_gateway_restart(start_gateway):
    gw = start_gateway(keys=["sim-quota_x", "good"])
    assert httpx.post(url(gw), json=body(), timeout=30).status_code == 200
    gw.stop()
    state = json.loads((gw.home / "pool-state.json").read_text())
    assert any(c["account"] == "key-1" and c["model"] == MODEL for c in state["cooldowns"])
    from harness import RunningGateway

    again = RunningGateway(gw.home).start()
    try:
        assert httpx.post(url(again), json=body(), timeout=30).status_code == 200
        assert keys_tried(again) == ["good"], "the exhausted key is not asked again after a restart"
    finally:
        again.stop()


def test_concurrency_limit_holds_and_slots_come_back_when_streams_end(start_gateway):
    gw = start_gateway(keys=["k1"])
    AccountStore(gw.home / "accounts").update("key-1", max_concurrent=1)
    time.sleep(1.1)
    stream_body = body("slow one [[sim chunks=3 interval_ms=50]]")

    async def both():
        async with httpx.AsyncClient(timeout=30) as c:
            return await asyncio.gather(*(c.post(url(gw, "streamGenerateContent") + "?alt=sse", json=stream_body)
                                          for _ in range(3)))

    results = asyncio.run(both())
    assert all(r.status_code == 200 for r in results)
    pool = gw.addon.runtime.services.pool
    assert pool.get("key-1").max_concurrent == 1 and pool.in_flight(pool.get("key-1")) == 0
    starts = sorted(r.t_start for r in gw.sim.log)
    ends = sorted(r.event_times[-1] for r in gw.sim.log)
    assert all(starts[i + 1] >= ends[i] for i in range(len(starts) - 1)), "one request at a time"


def test_exhaustion_without_attempts_names_every_skip_reason(start_gateway):
    gw = start_gateway(keys=["sim-quota_z"])
    first = httpx.post(url(gw), json=body(), timeout=30)
    assert first.status_code == 429 and "key-1: 429" in first.json()["error"]["message"]
    again = httpx.post(url(gw), json=body(), timeout=30)
    assert again.status_code == 429 and int(again.headers["retry-after"]) == 120
    assert "key-1 skip: cooling down" in again.json()["error"]["message"]
