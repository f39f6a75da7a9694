"""What mitmweb shows of an exchange: the client's request as sent (secrets masked), the
translated answer (capped), a comment naming account, model, attempts and tokens, one more flow
per upstream attempt, and a retention policy so a long day does not grow memory without end.
Also the one log line per request.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from urllib.parse import parse_qsl, urlencode

from mitmproxy import exceptions, http

from addon import attempt_flows
from addon.errors import AttemptRecord
from addon.pool.accounts import mask
from addon.record import ExchangeRecord

log = logging.getLogger("interlock")

SECRET_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "proxy-authorization", "cookie")
SECRET_QUERY = ("key", "api_key")
_CLIENT_VIEW = "interlock_client_request"


def mask_header_value(name: str, value: str) -> str:
    scheme, sep, rest = value.partition(" ")
    if name == "authorization" and sep and rest:
        return f"{scheme} {mask(rest)}"
    return mask(value)


def mask_request(request: http.Request) -> None:
    """Replace every credential the client sent with its masked form, in place."""
    for name in SECRET_HEADERS:
        values = request.headers.get_all(name)
        if values:
            request.headers.set_all(name, [mask_header_value(name, v) for v in values])
    if "?" in request.path:
        path, _, query = request.path.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k in SECRET_QUERY for k, _ in pairs):
            request.path = path + "?" + urlencode([(k, mask(v) if k in SECRET_QUERY else v) for k, v in pairs])


def keep_client_view(flow: http.HTTPFlow) -> None:
    """Remember the (masked) client request before the flow is re-pointed at the bridge."""
    flow.metadata[_CLIENT_VIEW] = flow.request.get_state()


def restore_client_view(flow: http.HTTPFlow) -> None:
    """Once the bridge request is on the wire, show the client's own request again."""
    state = flow.metadata.pop(_CLIENT_VIEW, None)
    if state is not None:
        flow.request.set_state(state)


def describe_attempts(url: str | None, attempts: list[AttemptRecord]) -> str:
    statuses = ",".join(str(a.status) if a.status is not None else "transport" for a in attempts)
    lines = [f"upstream {url or '(none)'} attempts={statuses or 'none'}"]
    lines += [f"  #{i} {a.describe()}" for i, a in enumerate(attempts, 1)]
    return "\n".join(lines)


def comment(flow: http.HTTPFlow, text: str) -> None:
    flow.comment = f"{flow.comment}\n{text}" if flow.comment else text


def show_as_sent(flow: http.HTTPFlow) -> None:
    """Point the displayed request at the gateway the client called, not the reverse target:
    that is what the client sent, and what `mitmdump -nC` replays a saved flow against."""
    host, port = flow.client_conn.sockname[:2] if flow.client_conn.sockname else ("127.0.0.1", 8045)
    req = flow.request
    req.scheme, req.host, req.port = "http", host, port
    req.host_header = f"{host}:{port}"


def summary(rec: ExchangeRecord, attempt_ids: list[str] = ()) -> str:
    u = rec.usage
    model = rec.client_model or "-"
    if rec.mapped_model and rec.mapped_model != rec.client_model:
        model += f" -> {rec.mapped_model}"
    ms = f"{rec.latency_s * 1000:.0f} ms" if rec.latency_s is not None else "running"
    text = (f"account {rec.account or '-'} | model {model} | attempts {len(rec.attempts)} | "
            f"tokens in {u.input} out {u.output} cached {u.cached} thinking {u.thinking} | "
            f"{rec.status} {rec.outcome or 'unfinished'} {ms}")
    if attempt_ids:
        text += "\nattempt flows: " + ", ".join(attempt_ids)
    return text


def log_exchange(rec: ExchangeRecord) -> None:
    """One structured line per request; no query string (it may hold a key), no secrets."""
    u = rec.usage
    ttfb = f"{rec.first_byte_s * 1000:.0f}" if rec.first_byte_s is not None else "-"
    log.info(f"interlock: {rec.method} {rec.path.split('?', 1)[0]} route={rec.route or '-'} "
             f"protocol={rec.protocol or '-'} model={rec.client_model or '-'} mapped={rec.mapped_model or '-'} "
             f"account={rec.account or '-'} status={rec.status} attempts={len(rec.attempts)} "
             f"ms={(rec.latency_s or 0) * 1000:.0f} ttfb_ms={ttfb} in={u.input} out={u.output} "
             f"cached={u.cached} thinking={u.thinking} outcome={rec.outcome}"
             + (f" error={rec.error_class}" if rec.error_class else ""))


class Monitor:
    """Nested addon of the gateway: finishes each client flow for display and keeps memory flat."""

    def __init__(self) -> None:
        self.master = None
        self.records: dict[str, ExchangeRecord] = {}
        self._kept: OrderedDict[str, tuple[http.HTTPFlow, int]] = OrderedDict()
        self._kept_bytes = 0

    def load(self, loader) -> None:
        self.master = loader.master
        loader.add_option("monitor_max_flows", int, 2000,
                          "flows the monitor keeps (client flows and attempt flows); older ones are dropped")
        loader.add_option("monitor_max_mb", int, 256,
                          "megabytes of stored bodies the monitor keeps; older flows are dropped")
        loader.add_option("monitor_body_kb", int, 512,
                          "kilobytes of each translated answer and attempt body kept for display")

    def configure(self, updated: set[str]) -> None:
        for name, least in (("monitor_max_flows", 1), ("monitor_max_mb", 0), ("monitor_body_kb", 0)):
            if name in updated and getattr(self.master.options, name) < least:
                raise exceptions.OptionsError(f"interlock: {name} must be at least {least}")

    def track(self, flow: http.HTTPFlow, rec: ExchangeRecord) -> None:
        self.records[flow.id] = rec

    def answered(self, flow: http.HTTPFlow, answer, rec: ExchangeRecord, demo: bool) -> None:
        """The answer is decided: mask the client's request for display and write the comment."""
        rec.status = answer.status
        rec.upstream_url = rec.upstream_url or answer.upstream_url or ""
        mask_request(flow.request)
        show_as_sent(flow)
        if demo:
            comment(flow, "demo mode: answered by the built-in simulator")
        if answer.upstream_url or answer.attempts:
            comment(flow, describe_attempts(answer.upstream_url, answer.attempts))

    async def response(self, flow: http.HTTPFlow) -> None:
        await self._finish(flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        rec = self.records.get(flow.id)
        if rec is not None and not rec.stream_started:
            rec.finish("cut short")  # the client left before its stream began
        await self._finish(flow)

    async def _finish(self, flow: http.HTTPFlow) -> None:
        rec = self.records.pop(flow.id, None)
        if rec is not None:
            cap = self.master.options.monitor_body_kb * 1024
            if flow.response is not None and flow.response.raw_content is not None \
                    and len(flow.response.raw_content) > cap and "content-encoding" not in flow.response.headers:
                raw = flow.response.raw_content
                flow.response.raw_content = raw[:cap] + f"\n[interlock: {len(raw) - cap} more bytes not kept]".encode()
            built = [attempt_flows.build(flow, i, len(rec.attempts), att, cap, rec.outcome)
                     for i, att in enumerate(rec.attempts, 1)]
            built = [f for f in built if f is not None]
            comment(flow, summary(rec, [f.id for f in built]))
            await attempt_flows.emit(self.master, built)
        self._retain(flow)

    def _retain(self, flow: http.HTTPFlow) -> None:
        """Drop the oldest flows from the view once either limit is passed (mitmdump has no view)."""
        view = self.master.addons.get("view") if self.master is not None else None
        if view is None:
            return
        size = len(flow.request.raw_content or b"") + len(flow.response.raw_content or b"" if flow.response else b"")
        if flow.id in self._kept:
            self._kept_bytes -= self._kept.pop(flow.id)[1]
        self._kept[flow.id] = (flow, size)
        self._kept_bytes += size
        opts = self.master.options
        while len(self._kept) > 1 and (len(self._kept) > opts.monitor_max_flows
                                       or self._kept_bytes > opts.monitor_max_mb * 1024 * 1024):
            _, (old, old_size) = self._kept.popitem(last=False)  # never `flow`: it was added last
            self._kept_bytes -= old_size
            view.remove([old])
