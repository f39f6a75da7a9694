"""Each upstream attempt as a flow of its own, for mitmweb and `-w` files.

Built from the dispatcher's `AttemptTrace` (secrets already masked there) once the client flow
has ended, and played through every addon's hooks like a loaded flow, but without
`master.load_flow`'s reverse-mode rewrite of the host, which would point the flow at the wrong
upstream in demo mode.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from mitmproxy import connection, eventsequence, flow, http

from addon.errors import AttemptRecord
from addon.upstream.cooldown import read_fault

MARK = "interlock_attempt"


def duration(seconds: float) -> str:
    """2h37m, 1m5s, 30s: how people say a cooldown."""
    s = max(1, math.ceil(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m" if m else f"{h}h"
    if m:
        return f"{m}m{sec}s" if sec else f"{m}m"
    return f"{sec}s"


def why(att: AttemptRecord, outcome: str = "") -> str:
    """Why an attempt ended: `429 RESOURCE_EXHAUSTED, cooled 30s`, `200, served (stream ok)`."""
    trace = att.trace
    if att.status is None:
        text = f"transport error {att.reason}".rstrip()
    elif att.status == 200 and not att.reason:
        return f"200, served the answer ({outcome or 'whole'})"
    else:
        code = None
        if trace is not None and trace.status == att.status and trace.response_body:
            fault = read_fault(att.status, dict(trace.response_headers), bytes(trace.response_body))
            code = fault.reason or fault.google_status
        text = f"{att.status} {code}" if code else f"{att.status}"
        if att.reason:
            text += f" ({att.reason[:120]})"
    if att.cooldown_s:
        text += f", cooled {duration(att.cooldown_s)}"
    return text


def _capped(data: bytes, cap: int) -> bytes:
    if len(data) <= cap:
        return data
    return data[:cap] + f"\n[interlock: {len(data) - cap} more bytes not kept]".encode()


def _headers(pairs: list[tuple[str, str]]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def build(parent: http.HTTPFlow, index: int, total: int, att: AttemptRecord, cap: int,
          outcome: str = "") -> http.HTTPFlow | None:
    trace = att.trace
    if trace is None:
        return None
    url = urlsplit(trace.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    f = http.HTTPFlow(parent.client_conn, connection.Server(address=(url.hostname or "", port)))
    f.timestamp_created = trace.started
    f.request = http.Request.make(trace.method, trace.url, b"", _headers(trace.request_headers))
    f.request.raw_content = _capped(trace.scrub(trace.request_body), cap)
    f.request.timestamp_start = f.request.timestamp_end = trace.started
    if trace.status is not None:
        f.response = http.Response.make(trace.status, b"", _headers(trace.response_headers))
        body = trace.scrub(bytes(trace.response_body))
        f.response.raw_content = _capped(body, cap) + (
            f"\n[interlock: {trace.dropped} more bytes not kept]".encode() if trace.dropped else b"")
        f.response.timestamp_start = trace.response_at or trace.started
        f.response.timestamp_end = trace.ended or f.response.timestamp_start
    else:
        f.error = flow.Error(att.reason or "transport error")
        f.error.timestamp = trace.ended or trace.started
    f.metadata[MARK] = parent.id
    f.comment = (f"interlock attempt {index}/{total} for flow {parent.id} "
                 f"({parent.request.method} {parent.request.path.split('?', 1)[0]}) via {att.account}: "
                 f"{why(att, outcome)}")
    return f


async def emit(master, flows: list[http.HTTPFlow]) -> None:
    """Run each flow through the addons' hooks: the view shows it, `save` writes it, the dumper prints it."""
    for f in flows:
        for event in eventsequence.iterate(f):
            await master.addons.handle_lifecycle(event)
