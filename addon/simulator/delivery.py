"""Putting an answer on the wire at the requested pace, with the planned fault, if any.

Shared by every upstream the simulator imitates: the caller hands over ready response objects,
headers and a `Plan`; this module decides what actually leaves: everything, an error instead, or
the first N events and then a cut, a clean end, a raw error object or silence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import errors, framing
from .connection import Exchange
from .faults import Plan

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Pacing:
    """Delays for one answer, in milliseconds."""

    first_byte_ms: float = 0
    interval_ms: float = 0


def error_headers(plan: Plan, code: int, extra: dict[str, str]) -> Headers:
    headers = list(extra.items())
    if plan.retry_after and plan.retry_delay and code in (429, 503):
        seconds = float(plan.retry_delay.removesuffix("s"))
        headers.append(("Retry-After", str(max(1, math.ceil(seconds)))))
    return headers


async def error(exchange: Exchange, err: errors.Error, base: Headers, plan: Plan,
                pacing: Pacing) -> None:
    code, body, extra = err
    await exchange.pause(pacing.first_byte_ms + plan.first_byte_ms)
    await exchange.respond(code, [*base, *error_headers(plan, code, extra)],
                           framing.unary_body(body))


async def unary(exchange: Exchange, obj: dict[str, Any], base: Headers, plan: Plan,
                pacing: Pacing) -> None:
    """A unary answer; stream faults act on it as a failure before any body byte."""
    await exchange.pause(pacing.first_byte_ms + plan.first_byte_ms)
    fault = plan.stream
    if fault is not None and fault.kind == "midstream":
        return await error(exchange, _midstream_error(fault.code or 503, plan), base, plan,
                           Pacing())
    if fault is not None and fault.kind in ("cut", "eof"):
        return exchange.cut()
    await exchange.start(200, base)
    await exchange.pause(plan.silent_ms)
    if fault is not None and fault.kind == "stall":
        return await exchange.wait_gone()
    await exchange.send(framing.unary_body(obj), event=False)
    await exchange.end()


async def stream(exchange: Exchange, events: list[dict[str, Any]], sse: bool, base: Headers,
                 plan: Plan, pacing: Pacing) -> None:
    """SSE (`alt=sse`) or a streamed JSON array, one event at a time.

    A stream fault never lets the terminal event through: `cut99` on a five-event answer cuts
    after four, so the client always sees a stream without `finishReason`.
    """
    await exchange.pause(pacing.first_byte_ms + plan.first_byte_ms)
    await exchange.start(200, base)
    await exchange.pause(plan.silent_ms)
    fault = plan.stream
    limit = len(events) if fault is None else min(fault.value, len(events) - 1)
    for i, event in enumerate(events[:limit]):
        if i:
            await exchange.pause(pacing.interval_ms)
        data = framing.sse_event(event) if sse else framing.array_element(event, first=i == 0)
        await exchange.send(data)
    if fault is None or fault.kind == "eof":
        if not sse:
            await exchange.send(framing.array_end(limit == 0), event=False)
        return await exchange.end()
    if fault.kind == "cut":
        return exchange.cut()
    if fault.kind == "stall":
        return await exchange.wait_gone()
    _, body, _ = _midstream_error(fault.code or 503, plan)
    if sse:
        await exchange.send(framing.raw_error(body), event=False)
    else:
        await exchange.send(framing.array_element(body, limit == 0) + framing.array_end(False),
                            event=False)
    await exchange.end()
    exchange.cut()


def _midstream_error(code: int, plan: Plan) -> errors.Error:
    return errors.with_retry(errors.status_error(code), plan.retry_delay)
