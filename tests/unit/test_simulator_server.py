"""The server around the API: keep-alive, the control routes, unknown routes, shutdown."""

from __future__ import annotations

import asyncio
import json

import h11
import httpx
import pytest

from addon.simulator import Simulator

KEY = {"x-goog-api-key": "demo-key-1"}
HI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
UNARY = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"




def test_url_names_the_bound_port():
    sim = Simulator()
    assert sim.url == "http://127.0.0.1:0"


async def test_keep_alive_serves_several_requests_on_one_connection(sim):
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    conn = h11.Connection(h11.CLIENT)
    body = json.dumps(HI).encode()
    for _ in range(2):
        request = h11.Request(method="POST", target=UNARY + "?alt=sse", headers=[
            ("Host", "sim"), ("x-goog-api-key", "k"), ("Content-Length", str(len(body)))])
        writer.write(conn.send(request) + conn.send(h11.Data(data=body))
                     + conn.send(h11.EndOfMessage()))
        received = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                assert event.status_code == 200
            elif isinstance(event, h11.Data):
                received += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert json.loads(received)["candidates"][0]["finishReason"] == "STOP"
        conn.start_next_cycle()
    writer.close()
    assert [r.status for r in sim.log] == [200, 200]


async def test_control_routes_expose_and_reset_the_log(client, sim):
    await client.post(UNARY, json=HI)
    log = (await client.get("/__sim/log")).json()
    assert [(r["method"], r["path"], r["api_key"], r["model"], r["status"]) for r in log] == [
        ("POST", UNARY, "demo-key-1", "gemini-2.5-flash", 200)]
    assert (await client.post("/__sim/reset")).status_code == 200
    assert sim.log == [] and (await client.get("/__sim/log")).json() == []


async def test_unknown_routes_are_logged_404s(client, sim):
    r = await client.post("/v1beta/v1beta/models/gemini-2.5-flash:generateContent", json=HI)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = await client.post("/v1beta/models/gemini-2.5-flash:embedContent", json=HI)
    assert r.status_code == 404
    assert [(x.path, x.status) for x in sim.log] == [
        ("/v1beta/v1beta/models/gemini-2.5-flash:generateContent", 404),
        ("/v1beta/models/gemini-2.5-flash:embedContent", 404)]


async def test_close_ends_open_streams_and_frees_the_port():
    sim = Simulator()
    await sim.start()
    port = sim.port
    async with httpx.AsyncClient(base_url=sim.url, headers={"x-goog-api-key": "sim-stall1"},
                                 timeout=10) as c:
        async with c.stream("POST", STREAM, params={"alt": "sse"}, json=HI) as r:
            assert r.status_code == 200
            await sim.close()
            with pytest.raises(httpx.RemoteProtocolError):
                await r.aread()
    again = Simulator()
    await again.start(port=port)
    assert again.port == port
    await again.close()
