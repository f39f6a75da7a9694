"""A minimal MCP server (streamable HTTP transport) at `/api/mcp/{server}/mcp`, as z.ai serves
`web_search_prime`, `web_reader` and `zai-mcp-server`, so the gateway's MCP proxy is tested offline.

POST carries JSON-RPC: `initialize` opens a session (`Mcp-Session-Id` in the answer), later
requests must send it back (400 without, 404 for an unknown one); `tools/list` and `tools/call`
answer as one SSE `message` event; notifications get 202. GET opens the session's event stream
(one `notifications/message` event, then open until the client leaves); DELETE ends the session.
A missing bearer token answers 401; an Accept without both JSON and event-stream 406.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from .connection import Exchange
from .log import LogRecord

_ROUTE = re.compile(r"^/api/mcp/(?P<server>[^/]+)/mcp$")
PROTOCOL_VERSION = "2025-06-18"
TOOLS = {
    "web_search_prime": {"name": "webSearchPrime", "description": "Search the web",
                         "inputSchema": {"type": "object", "properties": {"search_query": {"type": "string"}},
                                         "required": ["search_query"]}},
    "web_reader": {"name": "webReader", "description": "Read a web page",
                   "inputSchema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}},
    "zai-mcp-server": {"name": "analyze_image", "description": "Describe an image",
                       "inputSchema": {"type": "object", "properties": {"image_source": {"type": "string"},
                                                                        "prompt": {"type": "string"}},
                                       "required": ["image_source", "prompt"]}},
}


def _json(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _event(doc: Any) -> bytes:
    return b"event: message\ndata: " + _json(doc) + b"\n\n"


class McpServers:
    def __init__(self, log: list[LogRecord], clock: Callable[[], float]) -> None:
        self.log, self.clock = log, clock
        self.sessions: dict[str, str] = {}  # session id → server
        self.calls: list[tuple[str, str, dict]] = []  # (server, tool, arguments) of each tools/call

    def reset(self) -> None:
        self.sessions.clear()
        self.calls.clear()

    async def handle(self, exchange: Exchange) -> bool:
        req = exchange.request
        route = _ROUTE.match(req.path)
        if route is None or route["server"] not in TOOLS:
            return False
        server = route["server"]
        token = req.headers.get("authorization", "").removeprefix("Bearer ").strip()
        exchange.record = LogRecord(req.method, req.path, token or None, self.clock(), model=server)
        self.log.append(exchange.record)
        if not token:
            return await self._plain(exchange, 401, {"error": "missing bearer token"},
                                     [("WWW-Authenticate", 'Bearer realm="mcp"')])
        session = req.headers.get("mcp-session-id")
        if req.method == "POST":
            return await self._post(exchange, server, session)
        if not session:
            return await self._plain(exchange, 400, {"error": "Mcp-Session-Id header is required"})
        if self.sessions.get(session) != server:
            return await self._plain(exchange, 404, {"error": "unknown session"})
        if req.method == "DELETE":
            del self.sessions[session]
            return await self._plain(exchange, 200, {})
        if req.method != "GET" or "text/event-stream" not in req.headers.get("accept", ""):
            return await self._plain(exchange, 405, {"error": "GET with Accept: text/event-stream, POST or DELETE"})
        await exchange.start(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                   ("Mcp-Session-Id", session)])
        await exchange.send(_event({"jsonrpc": "2.0", "method": "notifications/message",
                                    "params": {"level": "info", "data": f"{server} stream open"}}))
        await exchange.wait_gone()
        return True

    async def _post(self, exchange: Exchange, server: str, session: str | None) -> bool:
        req = exchange.request
        accept = req.headers.get("accept", "")
        if "application/json" not in accept or "text/event-stream" not in accept:
            return await self._plain(exchange, 406, {"error": "Accept must list application/json and text/event-stream"})
        try:
            message = json.loads(req.body)
        except ValueError:
            return await self._rpc_error(exchange, None, -32700, "Parse error", 400)
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return await self._rpc_error(exchange, None, -32600, "Invalid Request", 400)
        method, msg_id = message.get("method"), message.get("id")
        if method == "initialize":
            session = hashlib.sha256(f"{server}{len(self.sessions)}{self.clock()}".encode()).hexdigest()[:32]
            self.sessions[session] = server
            asked = (message.get("params") or {}).get("protocolVersion") or PROTOCOL_VERSION
            result = {"protocolVersion": asked, "capabilities": {"tools": {"listChanged": False}},
                      "serverInfo": {"name": f"sim-{server}", "version": "0.1.0"}}
            return await self._result(exchange, msg_id, result, session)
        if not session:
            return await self._plain(exchange, 400, {"error": "Mcp-Session-Id header is required"})
        if self.sessions.get(session) != server:
            return await self._plain(exchange, 404, {"error": "unknown session"})
        if msg_id is None:  # a notification (or a response) needs no answer
            return await self._plain(exchange, 202, None, session=session)
        if method == "tools/list":
            return await self._result(exchange, msg_id, {"tools": [TOOLS[server]]}, session)
        if method == "tools/call":
            params = message.get("params") or {}
            name, arguments = params.get("name"), params.get("arguments") or {}
            if name != TOOLS[server]["name"]:
                return await self._rpc_error(exchange, msg_id, -32602, f"Unknown tool: {name}", 200, session)
            self.calls.append((server, name, arguments))
            text = f"{name} (simulated) for {json.dumps(arguments, ensure_ascii=False, sort_keys=True)}"
            return await self._result(exchange, msg_id, {"content": [{"type": "text", "text": text}],
                                                         "isError": False}, session)
        if method == "ping":
            return await self._result(exchange, msg_id, {}, session)
        return await self._rpc_error(exchange, msg_id, -32601, f"Method not found: {method}", 200, session)

    async def _result(self, exchange: Exchange, msg_id: Any, result: dict, session: str) -> bool:
        await exchange.respond(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                     ("Mcp-Session-Id", session)],
                               _event({"jsonrpc": "2.0", "id": msg_id, "result": result}))
        return True

    async def _rpc_error(self, exchange: Exchange, msg_id: Any, code: int, message: str, status: int,
                         session: str | None = None) -> bool:
        headers = [("Content-Type", "application/json")] + ([("Mcp-Session-Id", session)] if session else [])
        await exchange.respond(status, headers, _json({"jsonrpc": "2.0", "id": msg_id,
                                                       "error": {"code": code, "message": message}}))
        return True

    @staticmethod
    async def _plain(exchange: Exchange, status: int, doc: Any, extra: list[tuple[str, str]] = (),
                     session: str | None = None) -> bool:
        headers = [("Content-Type", "application/json"), *extra] + ([("Mcp-Session-Id", session)] if session else [])
        await exchange.respond(status, headers, b"" if doc is None else _json(doc))
        return True
