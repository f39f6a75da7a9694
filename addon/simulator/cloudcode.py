"""Google's Cloud Code `v1internal` API, the upstream of Antigravity, reached with OAuth tokens.

Routes (`POST <base>/v1internal:<method>`, any path prefix before `/v1internal`):
`streamGenerateContent` (`alt=sse`: SSE of envelopes, CRLF framing; else a streamed array),
`generateContent`, `countTokens`, `loadCodeAssist`, `onboardUser` (a long-running operation,
polled with `GET <base>/v1internal/operations/<id>`), `fetchAvailableModels`,
`retrieveUserQuota`. Answers follow the fixtures `cloudcode_*`, `load_code_assist.json`,
`onboard_user_operation.json`, `fetch_available_models.json`, `retrieve_user_quota.json`.

A bearer token must be an access token the simulator's token endpoint issued; its refresh token
is the account, and words in it choose how the account behaves (like the Gemini API's fault keys):

    noproject      no project until `onboardUser` has run (loadCodeAssist shows no currentTier)
    exhaustedD     every generate request 429 QUOTA_EXHAUSTED for D (`exhausted2h`, `exhausted30s`)
                   from the account's first one; the quota endpoints show 0 until then
    capacityN      the first N generate requests 429 MODEL_CAPACITY_EXHAUSTED
    pro            a paid tier (`paidTier` g1-pro-tier)

An access token of the form `sim-<faults>` (refresh token `rt#sim-503x1`) also takes the Gemini
API fault keys (errors, cuts, mid-stream errors, delays). Errors before a stream are objects on
unary routes and one-element arrays on `streamGenerateContent`; a mid-stream error is the raw
object. A path prefix segment `down` answers 503 and `missing` 404, so a gateway's base-URL
fallback can be exercised. Every generate request uses up 1% of the model's quota. A generate
request (or `fetchAvailableModels`) naming a project that is not the account's answers 403.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any

from . import catalog, delivery, errors, framing, prompt, signatures, validation
from .connection import Exchange
from .delivery import Headers, Pacing
from .directives import DirectiveError
from .faults import FaultBook, FaultSyntaxError, Plan
from .gemini_api import _planned_error
from .log import LogRecord
from .oauth import OAuthApi
from .reply import compose
from .responses import Identity, stream_events, unary
from .tokens import prompt_details

_ROUTE = re.compile(r"^(?P<prefix>(?:/[^/:]+)*)/v1internal"
                    r"(?::(?P<method>[A-Za-z]+)|/(?P<operation>operations/[^/]+))$")
_ENVELOPE = {"project", "requestId", "request", "model", "userAgent", "requestType",
             "enabledCreditTypes", "userPromptId"}
_CAMEL = re.compile(r"_([a-z0-9])")
JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream"
_TYPE = "type.googleapis.com/google.rpc."
WINDOW_S = 5 * 3600.0

# What fetchAvailableModels offers: id → (displayName, maxTokens, maxOutputTokens, provider)
MODELS: dict[str, tuple[str, int, int, str]] = {
    "gemini-2.5-flash": ("Gemini 2.5 Flash", 1048576, 65535, "GOOGLE"),
    "gemini-2.5-pro": ("Gemini 2.5 Pro", 1048576, 65535, "GOOGLE"),
    "gemini-3-flash": ("Gemini 3 Flash", 1048576, 65536, "GOOGLE"),
    "gemini-3.1-pro-low": ("Gemini 3.1 Pro (Low)", 1048576, 65536, "GOOGLE"),
    "gemini-3-pro-low": ("Gemini 3 Pro (Low)", 1048576, 65536, "GOOGLE"),
    "gemini-3.1-flash-image": ("Gemini 3.1 Flash Image", 65536, 32768, "GOOGLE"),
    "claude-sonnet-4-6": ("Claude Sonnet 4.6", 200000, 64000, "ANTHROPIC"),
    "claude-opus-4-6-thinking": ("Claude Opus 4.6 (Thinking)", 200000, 64000, "ANTHROPIC"),
}
DEPRECATED = {"claude-opus-4-5-thinking": {"newModelId": "claude-opus-4-6-thinking",
                                           "oldModelEnum": "MODEL_PLACEHOLDER_M12",
                                           "newModelEnum": "MODEL_PLACEHOLDER_M26"}}
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class CloudAccount:
    """One Google account as Cloud Code knows it, created on its first request."""

    refresh_token: str
    created: float
    project: str | None
    paid: bool = False
    exhausted_s: float | None = None
    capacity_errors: int = 0
    first_generate: float | None = None
    used: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_token(cls, token: str, now: float) -> CloudAccount:
        words = set(re.split(r"[-_/#.]+", token))
        exhausted = next((float(m[1]) * _UNIT[m[2]] for w in words
                          if (m := re.fullmatch(r"exhausted(\d+(?:\.\d+)?)([smh])", w))), None)
        capacity = next((int(m[1]) for w in words if (m := re.fullmatch(r"capacity(\d+)", w))), 0)
        project = None if "noproject" in words else project_of(token)
        return cls(token, now, project, "pro" in words, exhausted, capacity)

    def exhausted_until(self, now: float) -> float | None:
        """The reset time while the account's quota is used up, else None."""
        if self.exhausted_s is None:
            return None
        until = (self.first_generate or now) + self.exhausted_s
        return until if until > now else None

    def remaining(self, model: str, now: float) -> tuple[float, float]:
        """(remainingFraction, resetTime) of one model."""
        if (until := self.exhausted_until(now)) is not None:
            return 0.0, until
        return max(0.0, 1.0 - self.used.get(model, 0) / 100), self.created + WINDOW_S


def project_of(token: str) -> str:
    return "sim-project-" + hashlib.sha256(token.encode()).hexdigest()[:6]


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _go_duration(seconds: float) -> str:
    """Cloud Code's `quotaResetDelay` style: "2h37m22.77s"."""
    hours, rest = divmod(max(0.0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if minutes or hours:
        text = f"{int(minutes)}m" + text
    if hours:
        text = f"{int(hours)}h" + text
    return text


def quota_exhausted(model: str, until: float, now: float) -> errors.Error:
    left = until - now
    hours, rest = divmod(int(left), 3600)
    return errors.status_error(429, f"You have exhausted your capacity on this model. Your quota will reset "
                                    f"after {hours}h{rest // 60}m{rest % 60}s.", [
        {"@type": _TYPE + "ErrorInfo", "reason": "QUOTA_EXHAUSTED", "domain": "cloudcode-pa.googleapis.com",
         "metadata": {"uiMessage": "true", "model": model, "quotaResetDelay": _go_duration(left),
                      "quotaResetTimeStamp": rfc3339(until)}},
        {"@type": _TYPE + "RetryInfo", "retryDelay": f"{left:.3f}".rstrip("0").rstrip(".") + "s"},
    ])


def capacity_exhausted(model: str) -> errors.Error:
    message = f"No capacity available for model {model} on the server"
    code, body, headers = errors.status_error(429, message, [
        {"@type": _TYPE + "ErrorInfo", "reason": "MODEL_CAPACITY_EXHAUSTED", "domain": "cloudcode-pa.googleapis.com",
         "metadata": {"model": model}}])
    return code, _with_legacy(body, "rateLimitExceeded"), headers


def not_found() -> errors.Error:
    code, body, headers = errors.status_error(404, "Requested entity was not found.")
    return code, _with_legacy(body, "notFound"), headers


def _with_legacy(body: dict, reason: str) -> dict:
    """ESF's legacy `errors` list, placed after `message` as in the captures."""
    err = body["error"]
    ordered = {"code": err["code"], "message": err["message"],
               "errors": [{"message": err["message"], "domain": "global", "reason": reason}]}
    ordered.update((k, v) for k, v in err.items() if k not in ordered)
    return {"error": ordered}


class CloudCodeApi:
    def __init__(self, faults: FaultBook, log: list[LogRecord], pacing: Pacing, clock: Callable[[], float],
                 oauth: OAuthApi, wall: Callable[[], float] = time.time) -> None:
        self.faults, self.log, self.pacing, self.clock, self.oauth = faults, log, pacing, clock, oauth
        self.wall = wall
        self.accounts: dict[str, CloudAccount] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.issued: set[str] = set()
        self._sequence = 0

    def reset(self) -> None:
        self.accounts.clear()
        self.operations.clear()

    def account(self, refresh_token: str) -> CloudAccount:
        if refresh_token not in self.accounts:
            self.accounts[refresh_token] = CloudAccount.from_token(refresh_token, self.wall())
        return self.accounts[refresh_token]

    async def handle(self, exchange: Exchange) -> bool:
        req = exchange.request
        route = _ROUTE.match(req.path)
        if route is None:
            return False
        method = route["method"]
        token = req.headers.get("authorization", "").partition(" ")[2].strip() or None
        record = LogRecord(req.method, req.path, token, self.clock(), stream=method == "streamGenerateContent")
        self.log.append(record)
        exchange.record = record
        stream = method == "streamGenerateContent"
        err = self._front_door(route["prefix"])
        owner = self.oauth.owner(req.headers.get("authorization"))
        if err is None and owner is None:
            err = errors.status_error(401)
        if err is None:
            assert owner is not None
            err = await self._route(exchange, self.account(owner), method, route["operation"])
        if err is not None:
            await self._error(exchange, err, stream and exchange.request.query.get("alt") == "sse", array=stream)
        return True

    @staticmethod
    def _front_door(prefix: str) -> errors.Error | None:
        segments = set(prefix.strip("/").split("/"))
        if "down" in segments:
            return errors.status_error(503, "The service is currently unavailable.")
        if "missing" in segments:
            return not_found()
        return None

    async def _route(self, exchange: Exchange, account: CloudAccount, method: str | None,
                     operation: str | None) -> errors.Error | None:
        verb = exchange.request.method
        if operation is not None:
            return await self._poll(exchange, account, operation) if verb == "GET" else not_found()
        if verb != "POST":
            return not_found()
        try:
            body = json.loads(exchange.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return errors.bad_request("Invalid JSON payload received. Unexpected token.")
        if not isinstance(body, dict):
            return errors.bad_request("Invalid JSON payload received. Expected an object.")
        handler = {"streamGenerateContent": self._generate, "generateContent": self._generate,
                   "countTokens": self._count, "loadCodeAssist": self._load, "onboardUser": self._onboard,
                   "fetchAvailableModels": self._models, "retrieveUserQuota": self._quota}.get(method or "")
        if handler is None:
            return not_found()
        return await handler(exchange, account, body)

    # setup

    async def _load(self, exchange: Exchange, account: CloudAccount, body: dict) -> errors.Error | None:
        free = {"id": "free-tier", "name": "Antigravity", "description": "Free tier", "isDefault": True,
                "privacyNotice": {"showNotice": True, "noticeText": "Notice."}}
        standard = {"id": "standard-tier", "name": "Antigravity", "description": "Standard tier",
                    "userDefinedCloudaicompanionProject": True, "usesGcpTos": True, "privacyNotice": {}}
        doc: dict[str, Any] = {}
        if account.project is not None:
            doc["currentTier"] = {"id": "free-tier", "name": "Antigravity",
                                  "description": "Gemini-powered code suggestions and chat in multiple IDEs",
                                  "privacyNotice": {"showNotice": True, "noticeText": "Privacy notice text here."}}
        doc["allowedTiers"] = [free, standard]
        if account.project is not None:
            doc["cloudaicompanionProject"] = account.project
        doc["gcpManaged"] = False
        doc["upgradeSubscriptionUri"] = "https://codeassist.google.com/upgrade"
        if account.paid:
            doc["paidTier"] = {"id": "g1-pro-tier", "name": "Google AI Pro", "description": "Google AI Pro"}
        await self._json(exchange, doc)
        return None

    async def _onboard(self, exchange: Exchange, account: CloudAccount, body: dict) -> errors.Error | None:
        tier = body.get("tierId") or body.get("tier_id")
        if tier not in ("free-tier", "standard-tier"):
            return errors.bad_request(f"Invalid tier id: {tier!r}", "tier_id")
        given = body.get("cloudaicompanionProject") or body.get("cloudaicompanion_project")
        if tier == "free-tier" and given:
            return errors.status_error(400, "Precondition Failed")
        name = "operations/cmpf." + hashlib.sha256(f"{account.refresh_token}|{len(self.operations)}".encode()
                                                   ).hexdigest()[:24]
        self.operations[name] = {"account": account.refresh_token, "polls": 0, "project": given}
        await self._json(exchange, {"name": name, "done": False})
        return None

    async def _poll(self, exchange: Exchange, account: CloudAccount, name: str) -> errors.Error | None:
        op = self.operations.get(name)
        if op is None or op["account"] != account.refresh_token:
            return not_found()
        op["polls"] += 1
        if op["polls"] < 2:  # the first poll still finds it running
            await self._json(exchange, {"name": name, "done": False})
            return None
        account.project = account.project or op["project"] or project_of(account.refresh_token)
        await self._json(exchange, {"name": name, "done": True, "response": {
            "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
            "cloudaicompanionProject": {"id": account.project, "name": account.project, "projectNumber": "0"},
            "status": {"statusCode": "NOTICE",
                       "displayMessage": "You've successfully connected your Google Account and can now get "
                                         "started with Gemini Code Assist",
                       "messageTitle": "Welcome to Gemini Code Assist"}}})
        return None

    # quotas

    async def _models(self, exchange: Exchange, account: CloudAccount, body: dict) -> errors.Error | None:
        if body.get("project") and body["project"] != account.project:
            return errors.status_error(403, f"Permission denied on resource project {body['project']}.")
        now = self.wall()
        models: dict[str, Any] = {}
        for model, (display, context, output, provider) in MODELS.items():
            fraction, reset = account.remaining(model, now)
            quota: dict[str, Any] = {"remainingFraction": fraction} if fraction > 0 else {}
            quota["resetTime"] = rfc3339(reset)
            models[model] = {"displayName": display, "supportsImages": True,
                             "supportsThinking": "image" not in model, "recommended": True,
                             "maxTokens": context, "maxOutputTokens": output, "quotaInfo": quota,
                             "apiProvider": "API_PROVIDER_ANTHROPIC_VERTEX" if provider == "ANTHROPIC"
                             else "API_PROVIDER_GOOGLE_GEMINI",
                             "modelProvider": f"MODEL_PROVIDER_{provider}"}
        models["chat_20706"] = {"maxTokens": 16384, "tokenizerType": "QWEN2", "quotaInfo": {"remainingFraction": 1},
                                "model": "MODEL_CHAT_20706", "apiProvider": "API_PROVIDER_INTERNAL",
                                "isInternal": True}
        await self._json(exchange, {
            "models": models, "defaultAgentModelId": "gemini-3.1-pro-low",
            "agentModelSorts": [{"displayName": "Recommended", "groups": [{"modelIds": [
                m for m in MODELS if "image" not in m]}]}],
            "commandModelIds": ["gemini-3-flash"], "tabModelIds": ["chat_20706"],
            "imageGenerationModelIds": ["gemini-3.1-flash-image"], "webSearchModelIds": ["gemini-2.5-flash"],
            "deprecatedModelIds": DEPRECATED})
        return None

    async def _quota(self, exchange: Exchange, account: CloudAccount, body: dict) -> errors.Error | None:
        now = self.wall()
        buckets = []
        for model in MODELS:
            fraction, reset = account.remaining(model, now)
            buckets.append({"modelId": model, "tokenType": "REQUESTS", "remainingFraction": fraction,
                            "resetTime": rfc3339(reset)})
        await self._json(exchange, {"buckets": buckets})
        return None

    # generation

    async def _count(self, exchange: Exchange, account: CloudAccount, body: dict) -> errors.Error | None:
        inner = body.get("request")
        if not isinstance(inner, dict):
            return errors.bad_request("Invalid JSON payload received. 'request' must be an object.", "request")
        details = prompt_details({"contents": inner.get("contents") or []})
        await self._json(exchange, {"totalTokens": sum(d["tokenCount"] for d in details)})
        return None

    async def _generate(self, exchange: Exchange, account: CloudAccount, body: dict) -> errors.Error | None:
        record = exchange.record
        assert record is not None
        for name in body:
            if _CAMEL.sub(lambda m: m.group(1).upper(), name) not in _ENVELOPE:
                return errors.bad_request(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
        model, inner = body.get("model"), body.get("request")
        record.model = model if isinstance(model, str) else None
        if not isinstance(model, str) or not isinstance(inner, dict):
            return errors.bad_request("Invalid JSON payload received. 'model' and 'request' are required.")
        if account.project is None or body.get("project") != account.project:
            return errors.status_error(403, "Permission denied on resource project "
                                            f"{body.get('project') or '(none)'}.")
        if model not in MODELS and catalog.lookup(model) is None:
            return not_found()
        inner = {k: v for k, v in inner.items() if k not in ("sessionId", "session_id")}
        record.request = inner
        err = validation.check(inner) or signatures.check(inner, model, self.issued)
        if err is not None:
            return err
        try:
            asked = prompt.read(model, inner)
        except DirectiveError as exc:
            return errors.bad_request(str(exc))
        now = self.wall()
        account.first_generate = account.first_generate or now
        if (until := account.exhausted_until(now)) is not None:
            record.fault = "quota:exhausted"
            return quota_exhausted(model, until, now)
        if account.capacity_errors > 0:
            account.capacity_errors -= 1
            record.fault = "capacity"
            return capacity_exhausted(model)
        try:
            plan = self.faults.take(record.api_key or "")
        except FaultSyntaxError as exc:
            return errors.bad_request(str(exc))
        account.used[model] = account.used.get(model, 0) + 1
        return await self._answer(exchange, model, asked, inner, plan)

    async def _answer(self, exchange: Exchange, model: str, asked: Any, inner: dict, plan: Plan) -> None:
        record = exchange.record
        assert record is not None
        stream = record.stream
        sse = exchange.request.query.get("alt") == "sse"
        d = asked.directives
        pacing = Pacing(first_byte_ms=self.pacing.first_byte_ms if d.first_byte_ms is None else d.first_byte_ms,
                        interval_ms=self.pacing.interval_ms if d.interval_ms is None else d.interval_ms)
        if plan.error is not None:
            record.fault = f"{plan.error.kind}:{plan.error.value}"
            await exchange.pause(pacing.first_byte_ms + plan.first_byte_ms)
            await self._error(exchange, _planned_error(plan, model), sse, array=stream)
            return None
        if plan.stream is not None:
            record.fault = f"{plan.stream.kind}:{plan.stream.value}"
        self._sequence += 1
        digest = hashlib.sha256(exchange.request.body + self._sequence.to_bytes(8, "big")).hexdigest()
        trace = digest[:16]
        ident = Identity(model, ("msg_vrtx_" if signatures.is_claude(model) else "") + digest[16:39],
                         tuple(prompt_details(inner)), asked.directives.cached or 0)
        record.response_id = ident.response_id
        reply = compose(asked)
        self.issued.add(ident.signature)
        claude = signatures.is_claude(model)
        headers = self._headers(record, JSON_TYPE if not (stream and sse) else SSE_TYPE, trace)
        if not stream:
            answer = unary(reply, ident)
            if claude:
                answer = signatures.sign_thoughts([answer], ident.signature)[0]
            await delivery.unary(exchange, {"response": answer, "traceId": trace}, headers, plan, pacing)
            return None
        events = stream_events(reply, ident)
        if claude:
            events = signatures.sign_thoughts(events, ident.signature)
        wrapped = [{"response": e, "traceId": trace, "metadata": {}} for e in events]
        await delivery.stream(exchange, wrapped, sse, headers, plan, pacing)
        return None

    # wire

    async def _error(self, exchange: Exchange, err: errors.Error, sse: bool, *, array: bool) -> None:
        """Objects on unary routes; a one-element array from the streaming route, except ESF's 401."""
        code, body, extra = err
        data = framing.unary_body(body)
        if array and code != 401:
            data = b"[" + framing.pretty(body).encode() + b"\n]"
        assert exchange.record is not None
        content_type = SSE_TYPE if sse and code == 401 else JSON_TYPE
        await exchange.respond(code, [*self._headers(exchange.record, content_type, None), *extra.items()], data)

    async def _json(self, exchange: Exchange, doc: Any) -> None:
        assert exchange.record is not None
        await exchange.respond(200, self._headers(exchange.record, JSON_TYPE, None), framing.unary_body(doc))

    def _headers(self, record: LogRecord, content_type: str, trace: str | None) -> Headers:
        headers = [("Content-Type", content_type), ("Vary", "Origin"), ("Vary", "X-Origin"), ("Vary", "Referer"),
                   ("Date", formatdate(usegmt=True)), ("Server", "ESF"), ("X-XSS-Protection", "0"),
                   ("X-Frame-Options", "SAMEORIGIN"), ("X-Content-Type-Options", "nosniff"),
                   ("Server-Timing", f"gfet4t7; dur={int((self.clock() - record.t_start) * 1000)}")]
        if trace is not None:
            headers.append(("x-cloudaicompanion-trace-id", trace))
        return headers
