"""The public Gemini API (generativelanguage.googleapis.com) under `/v1beta` and `/v1`.

Routes: `POST models/{m}:generateContent`, `:streamGenerateContent` (`alt=sse` for SSE, else a
streamed JSON array), `:countTokens`, `GET models` (paged) and `GET models/{m}`. Checks run in
the API's order: key present (403), key valid (400), model known (404), body well-formed (400);
only then does the key's fault plan count the request and shape the answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from . import catalog, delivery, errors, framing, prompt, signatures, validation
from .connection import Exchange
from .delivery import Headers, Pacing
from .directives import DirectiveError
from .faults import FaultBook, FaultSyntaxError, Plan, parse_fault_key
from .log import LogRecord
from .reply import compose
from .responses import Identity, stream_events, unary
from .tokens import prompt_details

_ROUTE = re.compile(r"^/(?P<version>v1beta|v1)/models(?:/(?P<model>[^:/]+)"
                    r"(?::(?P<method>[A-Za-z]+))?)?/?$")
_GENERATE = ("generateContent", "streamGenerateContent")
JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream"


def google_headers(content_type: str, elapsed_ms: int) -> Headers:
    """The front-end headers Google sends on every answer (upstream-protocol.md §1.1)."""
    return [("Content-Type", content_type), ("Vary", "Origin"), ("Vary", "X-Origin"),
            ("Vary", "Referer"), ("Date", formatdate(usegmt=True)),
            ("Server", "scaffolding on HTTPServer2"), ("X-XSS-Protection", "0"),
            ("X-Frame-Options", "SAMEORIGIN"), ("X-Content-Type-Options", "nosniff"),
            ("Server-Timing", f"gfet4t7; dur={elapsed_ms}"),
            ("Alt-Svc", 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000')]


class GeminiApi:
    def __init__(self, faults: FaultBook, log: list[LogRecord], pacing: Pacing,
                 clock: Callable[[], float]) -> None:
        self.faults, self.log, self.pacing, self.clock = faults, log, pacing, clock
        self._sequence = 0
        self.issued: set[str] = set()  # thought signatures this simulator has given out

    async def handle(self, exchange: Exchange) -> bool:
        """Answers the request if it is a Gemini API route; False leaves it to others."""
        req = exchange.request
        route = _ROUTE.match(req.path)
        if route is None:
            return False
        key = _api_key(req.headers, req.query)
        model, method = route["model"], route["method"]
        record = LogRecord(req.method, req.path, key, self.clock(), model=model,
                           stream=method == "streamGenerateContent")
        self.log.append(record)
        exchange.record = record
        err = _key_error(key)
        if err is None:
            err = await self._route(exchange, route["version"], model, method)
        if err is not None:
            await exchange.respond(err[0], [*self._headers(record, JSON_TYPE),
                                            *err[2].items()], framing.unary_body(err[1]))
        return True

    async def _route(self, exchange: Exchange, version: str, model: str | None,
                     method: str | None) -> errors.Error | None:
        verb = exchange.request.method
        if model is None and method is None and verb == "GET":
            return await self._list(exchange)
        if model is None or verb != ("GET" if method is None else "POST"):
            return errors.method_not_found()
        entry = catalog.lookup(model)
        if method is None:
            if entry is None:
                return errors.model_not_found(model, version, "get")
            return await self._json(exchange, entry)
        if method not in (*_GENERATE, "countTokens"):
            return errors.method_not_found()
        if entry is None or not catalog.supports(entry, method):
            return errors.model_not_found(model, version, method)
        try:
            body = json.loads(exchange.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return errors.bad_request("Invalid JSON payload received. Unexpected token.")
        if method == "countTokens":
            return await self._count(exchange, body)
        return (validation.check(body) or signatures.check(body, model, self.issued)
                or await self._generate(exchange, model, method, body))

    async def _list(self, exchange: Exchange) -> errors.Error | None:
        query = exchange.request.query
        try:
            size = min(max(int(query.get("pageSize") or 50), 1), 1000)
            token = query.get("pageToken")
            offset = int(base64.urlsafe_b64decode(token).decode()) if token else 0
            if offset < 0:
                raise ValueError(offset)
        except (ValueError, binascii.Error):
            return errors.status_error(400, "Invalid page token.")
        models, following = catalog.page(size, offset)
        body: dict[str, Any] = {"models": models}
        if following is not None:
            body["nextPageToken"] = base64.urlsafe_b64encode(str(following).encode()).decode()
        return await self._json(exchange, body)

    async def _count(self, exchange: Exchange, body: Any) -> errors.Error | None:
        if not isinstance(body, dict):
            return errors.bad_request("Invalid JSON payload received. Expected an object.")
        inner = body.get("generateContentRequest") or body.get("generate_content_request")
        if isinstance(inner, dict):
            err = validation.check(inner)
            if err:
                return err
        else:
            inner = {"contents": body.get("contents") or []}
        details = prompt_details(inner)
        total = sum(d["tokenCount"] for d in details)
        return await self._json(exchange, {"totalTokens": total, "promptTokensDetails": details})

    async def _generate(self, exchange: Exchange, model: str, method: str,
                        body: dict[str, Any]) -> errors.Error | None:
        record = exchange.record
        assert record is not None
        record.request = body
        try:
            asked = prompt.read(model, body)
        except DirectiveError as exc:
            return errors.bad_request(str(exc))
        plan = self.faults.take(record.api_key or "")
        d = asked.directives
        pacing = Pacing(
            first_byte_ms=self.pacing.first_byte_ms if d.first_byte_ms is None else d.first_byte_ms,
            interval_ms=self.pacing.interval_ms if d.interval_ms is None else d.interval_ms)
        if plan.error is not None:
            record.fault = f"{plan.error.kind}:{plan.error.value}"
            err = _planned_error(plan, model)
            await delivery.error(exchange, err, self._headers(record, JSON_TYPE), plan, pacing)
            return None
        if plan.stream is not None:
            record.fault = f"{plan.stream.kind}:{plan.stream.value}"
        self._sequence += 1
        ident = Identity(model, _response_id(exchange.request.body, self._sequence),
                         tuple(prompt_details(body)), d.cached or 0)
        record.response_id = ident.response_id
        reply = compose(asked)
        self.issued.add(ident.signature)
        claude = signatures.is_claude(model)
        if method == "generateContent":
            answer = unary(reply, ident)
            if claude:
                answer = signatures.sign_thoughts([answer], ident.signature)[0]
            await delivery.unary(exchange, answer, self._headers(record, JSON_TYPE), plan, pacing)
            return None
        sse = exchange.request.query.get("alt") == "sse"
        headers = self._headers(record, SSE_TYPE if sse else JSON_TYPE)
        events = stream_events(reply, ident)
        if claude:
            events = signatures.sign_thoughts(events, ident.signature)
        await delivery.stream(exchange, events, sse, headers, plan, pacing)
        return None

    async def _json(self, exchange: Exchange, body: Any) -> None:
        assert exchange.record is not None
        await exchange.respond(200, self._headers(exchange.record, JSON_TYPE),
                               framing.unary_body(body), chunked=True)

    def _headers(self, record: LogRecord, content_type: str) -> Headers:
        return google_headers(content_type, int((self.clock() - record.t_start) * 1000))


def _api_key(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """`x-goog-api-key`, else `?key=`; a bearer token is taken as a key too (lenient)."""
    key = headers.get("x-goog-api-key") or query.get("key")
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _key_error(key: str | None) -> errors.Error | None:
    if not key:
        return errors.missing_api_key()
    if key.startswith("invalid"):
        return errors.invalid_api_key()
    try:
        parse_fault_key(key)
    except FaultSyntaxError as exc:
        return errors.bad_request(str(exc))
    return None


def _planned_error(plan: Plan, model: str) -> errors.Error:
    assert plan.error is not None
    if plan.error.kind == "quota":
        return errors.quota_exhausted(model, plan.retry_delay or "3600s")
    code = plan.error.value
    if code == 429:
        return errors.rate_limited(model, plan.retry_delay or "1s")
    if code == 404:
        return errors.with_retry(errors.model_not_found(model, "v1beta", "generateContent"),
                                 plan.retry_delay)
    return errors.with_retry(errors.status_error(code), plan.retry_delay)


def _response_id(body: bytes, sequence: int) -> str:
    """Looks like `P5LPaI6_LYbhz7IPkcnKwA4`; unique per request, reproducible per run."""
    digest = hashlib.sha256(body + sequence.to_bytes(8, "big")).digest()
    return base64.urlsafe_b64encode(digest).decode()[:23]
