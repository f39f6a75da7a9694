"""The loopback bridge: mitmproxy's server for flows whose answer the addon streams itself.

mitmproxy streams a response only from a flow's own server connection, so a stream the addon
opened (after retries, already translated to the client's protocol) is parked here and the flow
is re-pointed at this endpoint. The bridge then serves the parked body with backpressure
(`drain` per chunk), and closes the body (and with it the upstream) as soon as mitmproxy hangs
up, which it does when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11

log = logging.getLogger(__name__)

PARK_HEADER = "x-interlock-park"
PARK_TTL_S = 30.0
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
                         "proxy-connection", "te", "trailer"})


@dataclass
class Parked:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]

    async def aclose(self) -> None:
        closer = getattr(self.body, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


class Bridge:
    def __init__(self, ttl_s: float = PARK_TTL_S) -> None:
        self.ttl_s = ttl_s
        self.port = 0
        self._parked: dict[str, Parked] = {}
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self.served = 0
        self.aborted = 0

    @property
    def parked_count(self) -> int:
        return len(self._parked)

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for token in list(self._parked):
            await self.discard(token)
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await task
        self._server = None

    def park(self, parked: Parked) -> str:
        token = secrets.token_hex(12)
        self._parked[token] = parked
        asyncio.get_running_loop().call_later(self.ttl_s, self._expire, token)
        return token

    async def discard(self, token: str | None) -> None:
        if token and (parked := self._parked.pop(token, None)) is not None:
            await parked.aclose()

    def _expire(self, token: str) -> None:
        if token in self._parked:
            log.warning("bridge: parked stream %s was never claimed; closing it", token[:6])
            asyncio.ensure_future(self.discard(token))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(conn, reader)
                if request is None:
                    return
                token = dict((k.decode().lower(), v.decode()) for k, v in request.headers).get(PARK_HEADER)
                parked = self._parked.pop(token, None) if token else None
                if parked is None:
                    await self._send_simple(conn, writer, 410, b"nothing parked under this id\n")
                elif not await self._relay(parked, conn, reader, writer):
                    return
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            return
        except Exception:
            log.exception("bridge: a parked stream failed")
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
        request = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is h11.IDLE:
                    return None
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send_simple(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
        writer.write(conn.send(h11.Response(status_code=status, headers=[
            ("content-type", "text/plain"), ("content-length", str(len(body)))])))
        writer.write(conn.send(h11.Data(data=body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def _relay(self, parked: Parked, conn: h11.Connection, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        """Serve one parked body; False when the peer hung up before it ended."""
        headers = [(k, v) for k, v in parked.headers if k.lower() not in _HOP_BY_HOP]
        writer.write(conn.send(h11.Response(status_code=parked.status, headers=headers)))
        pump = asyncio.ensure_future(self._pump(parked, conn, writer))
        hangup = asyncio.ensure_future(reader.read(65536))
        try:
            await asyncio.wait({pump, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hung_up = not pump.done()
            if hung_up:
                pump.cancel()
                self.aborted += 1
                with contextlib.suppress(BaseException):
                    await pump
                await parked.aclose()
            hangup.cancel()
            with contextlib.suppress(BaseException):
                await hangup
        if hung_up:
            return False
        pump.result()
        self.served += 1
        return True

    @staticmethod
    async def _pump(parked: Parked, conn: h11.Connection, writer: asyncio.StreamWriter) -> None:
        try:
            async for chunk in parked.body:
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)))
                    await writer.drain()
        finally:
            await parked.aclose()
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
