"""Upstream hub events → client stream bytes, run on the bridge side of a parked flow.

Async on purpose: while the upstream is silent the relay sends the protocol's keep-alive, a
mid-stream upstream error becomes the protocol's terminal error, and the writer's `close()`
always runs, so every stream the client sees ends well-formed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from addon.errors import GatewayError, UpstreamError


class StreamWriter(Protocol):
    """A client protocol's stream translator: a state machine with no I/O and no clock."""

    def feed(self, event: dict) -> bytes: ...

    def ping(self) -> bytes: ...

    def fail(self, status: int, message: str) -> bytes: ...

    def close(self) -> bytes: ...


_END = object()


async def relay(events: AsyncIterator[dict], writer: StreamWriter, keepalive_s: float,
                on_end: Callable[[str], None] | None = None) -> AsyncIterator[bytes]:
    """Yield the client's bytes; `on_end` learns how it ended ("ok", "error: …", "client gone").

    One reader task per stream feeds a small queue (which keeps backpressure: it stops reading
    the upstream when the client is slow), so waiting with a keep-alive deadline costs a timer
    per event rather than a task.
    """
    queue: asyncio.Queue = asyncio.Queue(maxsize=4)

    async def pull() -> None:
        try:
            async for event in events:
                await queue.put(event)
            await queue.put(_END)
        except GatewayError as e:
            await queue.put(e)
        except Exception as e:  # noqa: BLE001 - whatever broke, the client gets a terminal event
            await queue.put(UpstreamError(f"upstream stream failed: {type(e).__name__}", status=502))

    reader = asyncio.ensure_future(pull())
    outcome = "client gone"
    try:
        while True:
            try:
                async with asyncio.timeout(keepalive_s):
                    item = await queue.get()
            except TimeoutError:
                yield writer.ping()
                continue
            if item is _END:
                break
            if isinstance(item, GatewayError):
                outcome = f"error: {item.status} {item.message}"
                if tail := writer.fail(item.status, item.message):
                    yield tail
                return
            if out := writer.feed(item):
                yield out
        outcome = "ok"
        if tail := writer.close():
            yield tail
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        closer = getattr(events, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
        if on_end is not None:
            on_end(outcome)
