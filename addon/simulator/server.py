"""The simulator as a whole: one asyncio server, its request log, its fault counters.

Upstream imitations (the Gemini API, Cloud Code `v1internal`, Google OAuth) are tried in turn for each request; the `/__sim/`
control routes let a test reset the counters and read the log over HTTP when it does not hold
the `Simulator` object itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

from . import errors, framing
from .connection import Exchange, serve
from .delivery import Pacing
from .faults import FaultBook
from .cloudcode import CloudCodeApi
from .anthropic_mode import AnthropicApi
from .gemini_api import JSON_TYPE, GeminiApi, google_headers
from .log import LogRecord
from .mcp import McpServers
from .oauth import OAuthApi


class Simulator:
    """A faithful fake of Google's Gemini API with fault injection.

    `interval_ms` is the default pause between stream events and `first_byte_ms` the default
    pause before an answer starts; prompt directives override both per request. `clock` stamps
    the log (monotonic seconds).
    """

    def __init__(self, *, interval_ms: float = 20, first_byte_ms: float = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log: list[LogRecord] = []
        self.faults = FaultBook()
        self.clock = clock
        self.host = "127.0.0.1"
        self.port = 0
        self._pacing = Pacing(first_byte_ms=first_byte_ms, interval_ms=interval_ms)
        self.oauth = OAuthApi(self.log, clock)
        self.cloudcode = CloudCodeApi(self.faults, self.log, self._pacing, clock, self.oauth)
        self.anthropic = AnthropicApi(self.faults, self.log, self._pacing, clock)
        self.mcp = McpServers(self.log, clock)
        self._apis = [GeminiApi(self.faults, self.log, self._pacing, clock), self.cloudcode, self.oauth,
                      self.anthropic, self.mcp]
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stops listening and ends every open connection, streams included."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    def reset(self) -> None:
        """Forgets the log and every key's request count."""
        self.log.clear()
        self.faults.reset()
        self.oauth.reset()
        self.cloudcode.reset()
        self.anthropic.reset()
        self.mcp.reset()

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await serve(reader, writer, self._dispatch, self.clock)
        except asyncio.CancelledError:
            pass  # close() ends connections; asyncio's stream callback would report it as an error
        finally:
            self._connections.discard(task)

    async def _dispatch(self, exchange: Exchange) -> None:
        req = exchange.request
        if req.path == "/__sim/reset" and req.method == "POST":
            self.reset()
            return await self._control(exchange, {"reset": True})
        if req.path == "/__sim/log" and req.method == "GET":
            return await self._control(exchange, [r.as_json() for r in self.log])
        for api in self._apis:
            if await api.handle(exchange):
                return
        key = req.headers.get("x-goog-api-key") or req.query.get("key")
        exchange.record = LogRecord(req.method, req.path, key, self.clock())
        self.log.append(exchange.record)
        code, body, _ = errors.method_not_found()
        await exchange.respond(code, google_headers(JSON_TYPE, 0), framing.unary_body(body))

    @staticmethod
    async def _control(exchange: Exchange, body: object) -> None:
        await exchange.respond(200, [("Content-Type", "application/json")],
                               json.dumps(body).encode())
