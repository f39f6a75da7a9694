"""Fault keys: the grammar, and each fault as a client sees it over a real socket."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from addon.simulator import Simulator
from addon.simulator.faults import FaultSyntaxError, parse_fault_key, plan_for

UNARY = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


def body(text: str = "hello") -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}



def client(sim: Simulator, key: str | None) -> httpx.AsyncClient:
    headers = {"x-goog-api-key": key} if key else {}
    return httpx.AsyncClient(base_url=sim.url, headers=headers, timeout=10)


async def until(condition, tries: int = 500) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


def test_grammar_reads_every_fault_kind():
    spec = parse_fault_key("sim-429x2-retry3s-retry-after-cut5x1-slow-first-byte-20ms_acct7")
    assert [(f.kind, f.value, f.times) for f in spec.faults] == [
        ("status", 429, 2), ("cut", 5, 1), ("slow", 20, None)]
    assert spec.retry_delay == "3s" and spec.retry_after
    assert parse_fault_key("sim-retry500ms").retry_delay == "0.5s"
    mid = parse_fault_key("sim-midstream-internal4").faults[0]
    assert (mid.kind, mid.value, mid.code) == ("midstream", 4, 500)
    assert parse_fault_key("demo-key-1") is None and parse_fault_key("AIzaXYZ") is None


@pytest.mark.parametrize("key", ["sim-cutt5", "sim-429-x2", "sim-777", "sim-slow-2000ms",
                                 "sim-quota-retry"])
def test_grammar_rejects_anything_else(key):
    with pytest.raises(FaultSyntaxError):
        parse_fault_key(key)


def test_first_written_fault_wins_within_its_window():
    spec = parse_fault_key("sim-429x2-503x3-eof2")
    codes = [plan_for(spec, i).error for i in range(4)]
    assert [f.value if f else None for f in codes] == [429, 429, 503, None]
    assert all(plan_for(spec, i).stream.kind == "eof" for i in range(4))


async def test_429_twice_with_retry_info_then_success_per_key(sim):
    async with client(sim, "sim-429x2-retry3s") as c, client(sim, "sim-429x2-retry3s_b") as other:
        first, second, third = [await c.post(UNARY, json=body()) for _ in range(3)]
        assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
        assert (await other.post(UNARY, json=body())).status_code == 429
        error = first.json()["error"]
        assert error["status"] == "RESOURCE_EXHAUSTED"
        assert [d["@type"].rsplit(".", 1)[1] for d in error["details"]] == [
            "Help", "QuotaFailure", "RetryInfo"]
        assert error["details"][-1] == {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                        "retryDelay": "3s"}
        assert "Please retry in 3s." in error["message"]
        assert "retry-after" not in first.headers
        assert (await c.post("/__sim/reset")).status_code == 200
        assert (await c.post(UNARY, json=body())).status_code == 429


async def test_retry_after_header_variant(sim):
    async with client(sim, "sim-429x1-retry2.5s-retry-after") as c:
        r = await c.post(UNARY, json=body())
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert r.json()["error"]["details"][-1]["retryDelay"] == "2.5s"


async def test_permanent_503_one_500_and_quota(sim):
    async with client(sim, "sim-503") as c:
        assert {(await c.post(UNARY, json=body())).status_code for _ in range(3)} == {503}
    async with client(sim, "sim-500x1") as c:
        assert [(await c.post(UNARY, json=body())).status_code for _ in range(2)] == [500, 200]
    async with client(sim, "sim-quota") as c:
        r = await c.post(UNARY, json=body())
        assert (await c.post(UNARY, json=body())).status_code == 429
    violations = r.json()["error"]["details"][1]["violations"]
    assert all("PerDay" in v["quotaId"] for v in violations)
    assert sim.log[-1].fault == "quota:429"


async def test_faults_do_not_touch_count_tokens_or_models(sim):
    async with client(sim, "sim-503") as c:
        r = await c.post("/v1beta/models/gemini-2.5-flash:countTokens", json=body())
        assert r.status_code == 200
        assert (await c.get("/v1beta/models")).status_code == 200


async def test_bad_fault_key_names_the_token(sim):
    async with client(sim, "sim-cutt5") as c:
        r = await c.post(UNARY, json=body())
    assert r.status_code == 400 and "cutt5" in r.json()["error"]["message"]


async def test_cut_closes_the_connection_after_n_events(sim):
    async with client(sim, "sim-cut5") as c:
        received = []
        with pytest.raises(httpx.RemoteProtocolError):
            async with c.stream("POST", STREAM, params={"alt": "sse"},
                                json=body("long [[sim chunks=20]]")) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:]))
    assert len(received) == 5
    assert not any("finishReason" in e["candidates"][0] for e in received)
    assert len(sim.log[-1].event_times) == 5 and sim.log[-1].fault == "cut:5"


async def test_cut_never_lets_the_terminal_event_through(sim):
    async with client(sim, "sim-cut99") as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post(STREAM, params={"alt": "sse"}, json=body("x [[sim chunks=4]]"))
    assert len(sim.log[-1].event_times) == 3


async def test_eof_ends_cleanly_without_finish_reason(sim):
    async with client(sim, "sim-eof3") as c:
        r = await c.post(STREAM, params={"alt": "sse"}, json=body("x [[sim chunks=10]]"))
        array = await c.post(STREAM, json=body("x [[sim chunks=10]]"))
    events = [json.loads(x[6:]) for x in r.text.split("\r\n\r\n") if x]
    assert len(events) == 3 and not any("finishReason" in e["candidates"][0] for e in events)
    assert len(json.loads(array.text)) == 3


async def test_midstream_error_is_a_raw_json_object_without_data_prefix(sim):
    async with client(sim, "sim-midstream-error3") as c:
        r = await c.post(STREAM, params={"alt": "sse"}, json=body("x [[sim chunks=10]]"))
    assert r.status_code == 200
    *events, tail = r.text.split("\r\n\r\n")
    assert len(events) == 3 and all(e.startswith("data: ") for e in events)
    assert not tail.startswith("data:") and tail.endswith("}\n")
    assert json.loads(tail) == {"error": {"code": 503, "message":
                                          "The model is overloaded. Please try again later.",
                                          "status": "UNAVAILABLE"}}


async def test_midstream_fault_on_unary_answers_the_error(sim):
    async with client(sim, "sim-midstream-internal2") as c:
        r = await c.post(UNARY, json=body())
    assert r.status_code == 500 and r.json()["error"]["status"] == "INTERNAL"


async def test_slow_first_byte_holds_the_status_line(sim):
    async with client(sim, "sim-slow-first-byte-60000ms") as c:
        request = asyncio.create_task(c.post(UNARY, json=body()))
        await until(lambda: sim.log)
        done, _ = await asyncio.wait({request}, timeout=0.3)
        assert not done and sim.log[0].status is None
        request.cancel()
    await until(lambda: sim.log[0].client_gone)
    assert sim.log[0].status is None


async def test_silent_sends_headers_then_nothing(sim):
    async with client(sim, "sim-silent-60000ms") as c:
        async with c.stream("POST", STREAM, params={"alt": "sse"}, json=body()) as r:
            assert r.status_code == 200
            read = asyncio.create_task(r.aread())
            done, _ = await asyncio.wait({read}, timeout=0.3)
            assert not done and sim.log[0].event_times == []
            read.cancel()
    await until(lambda: sim.log[0].client_gone)
    assert sim.log[0].event_times == []


async def test_short_silence_and_slow_start_still_deliver_everything(sim):
    async with client(sim, "sim-silent-30ms-slow-first-byte-30ms") as c:
        r = await c.post(STREAM, params={"alt": "sse"}, json=body("x [[sim chunks=4]]"))
    assert r.text.count("data: ") == 4 and '"finishReason": "STOP"' in r.text


async def test_stall_goes_quiet_until_the_client_leaves(sim):
    async with client(sim, "sim-stall2") as c:
        async with c.stream("POST", STREAM, params={"alt": "sse"},
                            json=body("x [[sim chunks=9]]")) as r:
            lines = r.aiter_lines()
            seen = 0
            while seen < 2:
                seen += (await anext(lines)).startswith("data: ")

            async def next_event():
                while not (await anext(lines)).startswith("data: "):
                    pass

            nxt = asyncio.create_task(next_event())
            done, _ = await asyncio.wait({nxt}, timeout=0.3)
            assert not done
            nxt.cancel()
    await until(lambda: sim.log[0].client_gone)
    assert len(sim.log[0].event_times) == 2


async def test_disconnect_stops_the_stream(sim):
    async with client(sim, "demo-key-1") as c:
        async with c.stream("POST", STREAM, params={"alt": "sse"},
                            json=body("x [[sim chunks=500 interval_ms=10]]")) as r:
            seen = 0
            async for line in r.aiter_lines():
                seen += line.startswith("data: ")
                if seen == 3:
                    break
    await until(lambda: sim.log[0].client_gone)
    sent = len(sim.log[0].event_times)
    await asyncio.sleep(0.1)
    assert 3 <= sent < 500 and len(sim.log[0].event_times) == sent


async def test_backpressure_holds_the_stream_for_a_slow_reader(sim):
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    payload = json.dumps(body("x [[sim chunks=20000 chunk_chars=1000]]")).encode()
    writer.write(f"POST {STREAM}?alt=sse HTTP/1.1\r\nHost: s\r\nx-goog-api-key: k\r\n"
                 f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    await reader.readuntil(b"\r\n\r\n")
    await until(lambda: sim.log and len(sim.log[0].event_times) > 0)
    held = -1
    while held != len(sim.log[0].event_times):
        held = len(sim.log[0].event_times)
        await asyncio.sleep(0.2)
    assert held < 20000
    while len(sim.log[0].event_times) < 20000:
        if not await reader.read(1 << 20):
            break
    assert len(sim.log[0].event_times) == 20000
    writer.close()


def test_time_windows_model_per_key_quota_resets():
    from addon.simulator.faults import FaultBook

    now = [100.0]
    book = FaultBook(clock=lambda: now[0])
    first = book.take("sim-limited5s_a")
    assert first.error.kind == "status" and first.error.value == 429 and first.retry_delay == "5s"
    now[0] += 3.5
    assert book.take("sim-limited5s_a").retry_delay == "1.5s"
    now[0] += 2
    assert book.take("sim-limited5s_a").error is None
    day = book.take("sim-exhausted2h_b")
    assert day.error.kind == "quota" and day.retry_delay == "7200s"
    now[0] += 3600
    assert book.take("sim-exhausted2h_b").retry_delay == "3600s"
