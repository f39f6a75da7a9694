"""The MCP reverse proxy: an official MCP client session (initialize, tools/list, tools/call, the GET
event stream, DELETE) through the gateway to the simulator's MCP servers, over real sockets."""

from __future__ import annotations

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

from harness import API_KEY, RunningGateway, write_home
from upstreams import add_anthropic_accounts


@pytest.fixture
def gw(tmp_path, zai):
    home = write_home(tmp_path / "home", {"api_key": API_KEY}, ["good-key-1"])
    with open(home / "config.toml", "a") as f:
        f.write(f'[mcp]\nweb_search_prime = "{zai.url}/api/mcp/web_search_prime/mcp"\n'
                f'web_reader = "{zai.url}/api/mcp/web_reader/mcp"\n')
    add_anthropic_accounts(home, zai.url, ["zai-mcp-key"])
    zai.sim.reset()
    gateway = RunningGateway(home).start()
    yield gateway
    gateway.stop()


async def test_an_mcp_client_session_through_the_gateway(gw, zai):
    url = gw.url + "/mcp/web_search_prime/mcp"
    async with streamablehttp_client(url, headers={"Authorization": f"Bearer {API_KEY}"}) as (read, write, session_id):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.serverInfo.name == "sim-web_search_prime"
            assert session_id()
            tools = await session.list_tools()
            assert [t.name for t in tools.tools] == ["webSearchPrime"]
            result = await session.call_tool("webSearchPrime", {"search_query": "interlock gateway"})
            assert not result.isError and "interlock gateway" in result.content[0].text
    assert zai.sim.mcp.calls == [("web_search_prime", "webSearchPrime", {"search_query": "interlock gateway"})]
    sent = [r for r in zai.sim.log if r.path.startswith("/api/mcp/")]
    assert sent and {r.api_key for r in sent} == {"zai-mcp-key"}  # the provider key, never the client's
    assert zai.sim.mcp.sessions == {}  # the client's DELETE reached the server


def test_unconfigured_and_unknown_servers_answer_404_with_a_hint(gw):
    r = httpx.post(gw.url + "/mcp/zai-mcp-server/mcp", json={}, headers={"Authorization": f"Bearer {API_KEY}"})
    assert r.status_code == 404 and "zai_mcp_server" in r.text and "[mcp]" in r.text
    r = httpx.get(gw.url + "/mcp/nope/mcp")
    assert r.status_code == 404 and "web_reader" in r.text


def test_session_errors_pass_through(gw):
    r = httpx.post(gw.url + "/mcp/web_reader/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                   headers={"accept": "application/json, text/event-stream"})
    assert r.status_code == 400 and "Mcp-Session-Id" in r.text


def test_the_get_event_stream_and_session_header_pass_through(gw):
    accept = {"accept": "application/json, text/event-stream", "Authorization": f"Bearer {API_KEY}"}
    url = gw.url + "/mcp/web_reader/mcp"
    init = httpx.post(url, headers=accept, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    session = init.headers["mcp-session-id"]
    assert init.status_code == 200 and init.headers["content-type"].startswith("text/event-stream")
    with httpx.stream("GET", url, headers={"accept": "text/event-stream", "mcp-session-id": session,
                                           "Authorization": f"Bearer {API_KEY}"}, timeout=30) as events:
        assert events.status_code == 200 and events.headers["mcp-session-id"] == session
        first = next(events.iter_lines())
        assert first == "event: message"
    r = httpx.delete(url, headers={"mcp-session-id": session, "Authorization": f"Bearer {API_KEY}"})
    assert r.status_code == 200


def test_without_an_anthropic_key_account_mcp_says_what_to_add(tmp_path, zai):
    home = write_home(tmp_path / "h2", {"api_key": API_KEY}, ["good-key-1"])
    with open(home / "config.toml", "a") as f:
        f.write(f'[mcp]\nweb_reader = "{zai.url}/api/mcp/web_reader/mcp"\n')
    gateway = RunningGateway(home).start()
    try:
        r = httpx.post(gateway.url + "/mcp/web_reader/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 400 and "anthropic_key" in r.text
    finally:
        gateway.stop()
