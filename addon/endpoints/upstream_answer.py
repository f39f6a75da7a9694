"""What every model endpoint does with an upstream stream: relay it through the bridge as it
arrives, or collect it into one whole answer; either way with the same headers, and with the
upstream URL and attempts the monitor shows.
"""

from __future__ import annotations

from addon.errors import UpstreamError
from addon.exchange import Answer, Services
from addon.protocols.hub import INTERRUPTED
from addon.upstream.dispatcher import UpstreamStream
from addon.upstream.relay import StreamWriter, relay

SSE = "text/event-stream; charset=utf-8"


def answer_headers(mapped: str, account: str, content_type: str = "application/json") -> dict[str, str]:
    return {"content-type": content_type, "x-mapped-model": mapped, "x-account-email": account}


def finished(events: list[dict]) -> bool:
    """Whether the upstream said it was done (a finishReason, or a blocked prompt)."""
    return any(c.get("finishReason") for e in events for c in e.get("candidates") or ()) or any(
        e.get("promptFeedback") for e in events)


async def collect(upstream: UpstreamStream, mapped: str, *, require_finish: bool = True) -> list[dict]:
    """Every hub event of `upstream`; a stream cut before its finish is a 502, not a short answer."""
    try:
        events = [event async for event in upstream.events()]
    except UpstreamError as e:
        e.headers.update(answer_headers(mapped, upstream.account.label))
        raise
    if require_finish and not finished(events):
        raise UpstreamError(INTERRUPTED, status=502, headers=answer_headers(mapped, upstream.account.label))
    return events


def traced(answer: Answer, *upstreams: UpstreamStream) -> Answer:
    """Give the answer what the monitor shows: the (first) upstream URL and every attempt."""
    answer.upstream_url = upstreams[0].url
    answer.attempts = [a for upstream in upstreams for a in upstream.attempts]
    return answer


def whole(body: object, upstream: UpstreamStream, mapped: str, *more: UpstreamStream) -> Answer:
    return traced(Answer.json(body, headers=answer_headers(mapped, upstream.account.label)), upstream, *more)


def streamed(svc: Services, upstream: UpstreamStream, writer: StreamWriter, mapped: str,
             content_type: str = SSE) -> Answer:
    answer = Answer(200, answer_headers(mapped, upstream.account.label, content_type),
                    stream=relay(upstream.events(), writer, svc.settings.keepalive_interval_s))
    answer.headers["cache-control"] = "no-cache"
    answer.headers["x-accel-buffering"] = "no"
    return traced(answer, upstream)
