"""One HTTP/1.1 connection over h11: keep-alive, chunked streaming, backpressure, disconnects.

h11 owns the protocol; this module owns the socket. While a handler answers, a watcher reads
the socket so that a client that hangs up is noticed at once, even during a pause in the stream:
`pause` and `send` then raise `ClientGone` and the handler unwinds. `send` awaits `drain()` after
every write, so a client that reads slowly slows the stream down instead of filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import h11

from .log import LogRecord

_READ_SIZE = 65536
_log = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client closed the connection before the answer was complete."""


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    path: str  # percent-decoded, without the query
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Exchange:
    """The answer to one request: a full response, or a status line and then body pieces."""

    def __init__(self, conn: h11.Connection, writer: asyncio.StreamWriter, request: Request,
                 gone: asyncio.Event, clock: Callable[[], float]) -> None:
        self.request = request
        self.record: LogRecord | None = None
        self.closed = False
        self.finished = False
        self._conn, self._writer, self._gone, self._clock = conn, writer, gone, clock
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    async def pause(self, ms: float) -> None:
        """Waits `ms` milliseconds, or raises ClientGone as soon as the client leaves."""
        if self._gone.is_set():
            raise ClientGone
        if ms <= 0:
            return
        try:
            async with asyncio.timeout(ms / 1000):
                await self._gone.wait()
        except TimeoutError:
            return
        raise ClientGone

    async def wait_gone(self) -> None:
        await self._gone.wait()
        raise ClientGone

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes,
                      *, chunked: bool = False) -> None:
        if not chunked:
            headers = [*headers, ("Content-Length", str(len(body)))]
        await self.start(status, headers)
        if body:
            await self.send(body, event=False)
        await self.end()

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self.record is not None:
            self.record.status = status
        self._started = True
        await self._write(self._conn.send(h11.Response(status_code=status, headers=headers)))

    async def send(self, data: bytes, *, event: bool = True) -> None:
        """Writes one body piece; `event` pieces get their send time in the log."""
        await self._write(self._conn.send(h11.Data(data=data)))
        if event and self.record is not None:
            self.record.event_times.append(self._clock())

    async def end(self) -> None:
        await self._write(self._conn.send(h11.EndOfMessage()))
        self.finished = True

    def cut(self) -> None:
        """Closes the connection mid-body, without the chunked terminator."""
        self.closed = True
        self._writer.close()

    async def _write(self, data: bytes | None) -> None:
        if self._gone.is_set() or self._writer.is_closing():
            raise ClientGone
        try:
            self._writer.write(data or b"")
            await self._writer.drain()
        except ConnectionError as exc:
            self._gone.set()
            raise ClientGone from exc


Handler = Callable[[Exchange], Awaitable[None]]


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler,
                clock: Callable[[], float] = time.monotonic) -> None:
    """Answers requests on one connection until either side closes it."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            request = await _read_request(conn, reader)
            if request is None:
                break
            gone = asyncio.Event()
            exchange = Exchange(conn, writer, request, gone, clock)
            pending: list[bytes] = []
            watcher = asyncio.create_task(_watch(reader, gone, pending))
            try:
                await handler(exchange)
            except ClientGone:
                pass
            except Exception:
                _log.exception("simulator handler failed for %s %s", request.method,
                               request.target)
                if not exchange.started:
                    with contextlib.suppress(ClientGone, h11.LocalProtocolError):
                        await exchange.respond(500, [("Content-Type", "text/plain")], b"boom\n")
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if gone.is_set() and exchange.record is not None and not exchange.finished \
                    and not exchange.closed:
                exchange.record.client_gone = True
            if gone.is_set() or exchange.closed or conn.our_state is not h11.DONE:
                break
            for data in pending:
                conn.receive_data(data)
            if conn.their_state is not h11.DONE:
                break
            conn.start_next_cycle()
    except (ConnectionError, h11.ProtocolError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_READ_SIZE))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            return _request(head, bytes(body))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


def _request(head: h11.Request, body: bytes) -> Request:
    target = head.target.decode("latin-1")
    split = urlsplit(target)
    query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
    return Request(head.method.decode("ascii"), target, unquote(split.path), query, headers,
                   body)


async def _watch(reader: asyncio.StreamReader, gone: asyncio.Event, pending: list[bytes]) -> None:
    """Keeps what the client sends next for the next request, and notices EOF."""
    while True:
        data = await reader.read(_READ_SIZE)
        if not data:
            gone.set()
            return
        pending.append(data)
