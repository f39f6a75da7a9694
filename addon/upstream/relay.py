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

from addon.errors import GatewayError


class StreamWriter(Protocol):
    """A client protocol's stream translator: a state machine with no I/O and no clock."""

    def feed(self, event: dict) -> bytes: ...

    def ping(self) -> bytes: ...

    def fail(self, status: int, message: str) -> bytes: ...

    def close(self) -> bytes: ...


async def relay(events: AsyncIterator[dict], writer: StreamWriter, keepalive_s: float,
                on_end: Callable[[str], None] | None = None) -> AsyncIterator[bytes]:
    """Yield the client's bytes; `on_end` learns how it ended ("ok", "error: …", "client gone")."""
    source = aiter(events)
    pending: asyncio.Future | None = None
    outcome = "client gone"
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait((pending,), timeout=keepalive_s)
            if not done:
                yield writer.ping()
                continue
            finished, pending = pending, None
            try:
                event = finished.result()
            except StopAsyncIteration:
                break
            except GatewayError as e:
                outcome = f"error: {e.status} {e.message}"
                if tail := writer.fail(e.status, e.message):
                    yield tail
                return
            if out := writer.feed(event):
                yield out
        outcome = "ok"
        if tail := writer.close():
            yield tail
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        closer = getattr(events, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
        if on_end is not None:
            on_end(outcome)
