"""One client exchange as the monitor, the stats database and the log line see it.

The gateway opens an `ExchangeRecord` per request and makes it current (a context variable), so
the dispatcher attaches the attempts and the upstream stream to it without any endpoint passing
them on: endpoints written later get monitoring and stats for free.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from addon import routes
from addon.errors import AttemptRecord, GatewayError

log = logging.getLogger(__name__)

_CURRENT: contextvars.ContextVar[ExchangeRecord | None] = contextvars.ContextVar("interlock_record", default=None)


@dataclass(frozen=True)
class Usage:
    """Token counts as Gemini's `usageMetadata` states them (the hub's usage, for every protocol)."""

    input: int = 0
    output: int = 0
    cached: int = 0
    thinking: int = 0

    @classmethod
    def from_hub(cls, meta: dict | None) -> Usage:
        meta = meta if isinstance(meta, dict) else {}

        def count(key: str) -> int:
            value = meta.get(key)
            return value if isinstance(value, int) and value > 0 else 0

        return cls(count("promptTokenCount"), count("candidatesTokenCount"),
                   count("cachedContentTokenCount"), count("thoughtsTokenCount"))


@dataclass
class ExchangeRecord:
    method: str
    path: str
    started: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.monotonic)
    protocol: str = ""
    route: str = ""
    client_model: str = ""
    mapped_model: str = ""
    status: int = 0
    upstream_url: str = ""
    attempts: list[AttemptRecord] = field(default_factory=list)
    upstream: Any = None  # the UpstreamStream that served; it keeps the latest usageMetadata
    first_byte_s: float | None = None
    latency_s: float | None = None
    outcome: str = ""
    error_class: str = ""
    stream_started: bool = False
    finished: bool = False
    listeners: list[Callable[[ExchangeRecord], None]] = field(default_factory=list)

    @property
    def account(self) -> str:
        """The account that answered, or else the last one tried."""
        if self.upstream is not None:
            return self.upstream.account.label
        return self.attempts[-1].account if self.attempts else ""

    @property
    def usage(self) -> Usage:
        return Usage.from_hub(getattr(self.upstream, "usage", None))

    def first_byte(self) -> None:
        if self.first_byte_s is None:
            self.first_byte_s = time.monotonic() - self.t0

    def finish(self, outcome: str) -> None:
        """Once per exchange: stamp the latency and tell the listeners (stats, log line)."""
        if self.finished:
            return
        self.finished = True
        self.latency_s = time.monotonic() - self.t0
        self.outcome = outcome
        stream_error = getattr(self.upstream, "error", None)
        if stream_error is not None and not self.error_class:
            self.error_class = type(stream_error).__name__
        for listener in self.listeners:
            try:
                listener(self)
            except Exception:  # noqa: BLE001 - a broken listener must not break the exchange
                log.exception("interlock: recording an exchange failed")


def current() -> ExchangeRecord | None:
    return _CURRENT.get()


def begin(record: ExchangeRecord) -> contextvars.Token:
    return _CURRENT.set(record)


def end(token: contextvars.Token) -> None:
    _CURRENT.reset(token)


def note_attempts(model: str, attempts: list[AttemptRecord]) -> None:
    """Called by the dispatcher as an attempt loop starts; `attempts` fills in as it runs."""
    rec = _CURRENT.get()
    if rec is not None:
        rec.mapped_model = model
        rec.attempts = attempts


def note_stream(stream: Any) -> None:
    """Called by the dispatcher when an upstream stream produced its first event."""
    rec = _CURRENT.get()
    if rec is not None:
        rec.upstream = stream
        rec.upstream_url = stream.url


def note_error(err: BaseException) -> None:
    rec = _CURRENT.get()
    if rec is not None:
        rec.error_class = type(err).__name__


def client_model(params: dict[str, str], body: bytes) -> str:
    """The model the client named: in the path (Gemini) or the JSON body (OpenAI, Anthropic)."""
    if params.get("model"):
        return params["model"]
    if not body or body[:1] not in (b"{", b" ", b"\n"):
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    model = doc.get("model") if isinstance(doc, dict) else None
    return model if isinstance(model, str) else ""


async def observe(body: AsyncIterator[bytes], rec: ExchangeRecord) -> AsyncIterator[bytes]:
    """The parked stream, watched: first byte, end, and streams the client cut short."""
    rec.stream_started = True
    outcome = "cut short"
    try:
        async for chunk in body:
            if chunk:
                rec.first_byte()
            yield chunk
        outcome = "error" if getattr(rec.upstream, "error", None) is not None else "ok"
    finally:
        closer = getattr(body, "aclose", None)
        if closer is not None:
            try:
                await closer()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        rec.finish(outcome)


def describe(rec: ExchangeRecord, req) -> None:
    """Protocol, route and client model of a request (`exchange.ClientRequest`), as routing sees it."""
    try:
        route = routes.match(req.method, req.path, req.headers)
    except GatewayError:
        rec.protocol = routes.guess_protocol(req.path, req.headers).value
        return
    rec.protocol, rec.route = route.protocol.value, route.handler
    if req.method == "POST" or route.params.get("model"):
        rec.client_model = client_model(route.params, req.body)
