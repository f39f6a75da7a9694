"""Google's Cloud Code `v1internal` API (Antigravity's upstream), reached with Google OAuth accounts.

Every byte interlock sends to Cloud Code is built here, in `CloudCode.build`, so what we send can
be compared with the official client's header for header and key for key. Generation goes through
the dispatcher like every provider; the setup calls (`loadCodeAssist`, `onboardUser`,
`fetchAvailableModels`, `retrieveUserQuota`, warmup) go through `CloudCodeApi.call`. Both try the
base URLs in order and move on after a network error, 404, 408 or 5xx (a sandbox or daily host
that is down or does not know a method), never after a 429/400/401, which belong to the account.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from addon.pool.accounts import Account
from addon.upstream.cooldown import UpstreamFault, read_fault
from addon.upstream.gemini_api import GeminiEvents
from addon.upstream.provider import PrepareError, UpstreamCall, UpstreamEvents, UpstreamRequest, send_with_fallback

CLIENT_USER_AGENT = "antigravity"  # the envelope's `userAgent`, as Antigravity sends it
# Inner request keys that rarely change go first, so the upstream's implicit prefix cache hits.
_STABLE_FIRST = ("systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "sessionId",
                 "contents")


def session_id(seed: str) -> str:
    """A stable `request.sessionId` in Antigravity's style ("-<int63>") for a conversation or account."""
    n = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") & (2**63 - 1)
    return f"-{n}"


def request_type(model: str) -> str:
    return "image_gen" if "image" in model else "agent"


def unwrap(doc: Any) -> Any:
    """`{"response": {...}, "traceId": …}` → the Gemini response; `responseId` from the trace id if missing."""
    if isinstance(doc, dict) and isinstance(doc.get("response"), dict):
        inner = dict(doc["response"])
        if "responseId" not in inner and isinstance(doc.get("traceId"), str):
            inner["responseId"] = doc["traceId"]
        return inner
    return doc


class CloudCodeEvents(UpstreamEvents):
    """SSE of envelopes → hub events; errors (raw objects, arrays) pass through as they are."""

    def __init__(self) -> None:
        self._inner = GeminiEvents()

    def feed(self, chunk: bytes) -> list[dict]:
        return [unwrap(e) for e in self._inner.feed(chunk)]

    def close(self) -> list[dict]:
        return [unwrap(e) for e in self._inner.close()]


@dataclasses.dataclass
class CloudCodeSettings:
    base_urls: Sequence[str]
    user_agent: str
    extra_headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


class CloudCode:
    """The provider: envelopes, headers, URLs. `prepare` makes sure the account has a project."""

    name = "cloudcode"

    def __init__(self, settings: CloudCodeSettings, *, projects=None,
                 redirects: Mapping[str, str] | None = None, request_ids: Callable[[str], str] | None = None) -> None:
        self.settings = settings
        self.projects = projects  # addon.pool.projects.ProjectResolver, or None when projects are known
        self.redirects = redirects if redirects is not None else {}  # deprecated model id → new id
        self._request_id = request_ids or (lambda kind: f"{kind}-{uuid.uuid4()}")

    def base_urls(self, account: Account) -> list[str]:
        return [account.base_url.rstrip("/")] if account.base_url else [u.rstrip("/") for u in self.settings.base_urls]

    def headers(self, account: Account) -> dict[str, str]:
        return {"content-type": "application/json", "accept-encoding": "identity",
                "user-agent": self.settings.user_agent, **self.settings.extra_headers,
                "authorization": f"Bearer {account.secret}"}

    def build(self, account: Account, method: str, body: dict, *, query: str = "", get: str | None = None
              ) -> UpstreamRequest:
        """The one place a Cloud Code request is made: URL per base, headers, body bytes."""
        urls = [f"{base}/{get}" if get else f"{base}:{method}{'?' + query if query else ''}"
                for base in self.base_urls(account)]
        data = b"" if get else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return UpstreamRequest("GET" if get else "POST", urls[0], self.headers(account), data,
                               fallback_urls=tuple(urls[1:]))

    def envelope(self, account: Account, call: UpstreamCall) -> dict:
        model = self.redirects.get(call.model, call.model)
        if call.action == "countTokens":
            inner = call.body.get("generateContentRequest") if isinstance(call.body.get("generateContentRequest"),
                                                                          dict) else call.body
            return {"request": {"model": f"models/{model}", "contents": inner.get("contents") or []}}
        body = {k: v for k, v in call.body.items() if k != "model"}
        body["sessionId"] = session_id(call.session or f"account:{account.id}")
        inner = {k: body[k] for k in _STABLE_FIRST if k in body}
        inner.update((k, v) for k, v in body.items() if k not in inner)
        kind = request_type(model)
        return {"project": account.project_id, "requestId": self._request_id(kind), "request": inner,
                "model": model, "userAgent": CLIENT_USER_AGENT, "requestType": kind}

    # Provider interface

    async def prepare(self, account: Account) -> Account:
        if account.project_id or self.projects is None:
            return account
        return await self.projects.ensure(account)

    def request(self, account: Account, call: UpstreamCall) -> UpstreamRequest:
        if not account.project_id and call.action != "countTokens":
            raise PrepareError(f"{account.label}: no Cloud Code project yet")
        method = {"stream": "streamGenerateContent"}.get(call.action, call.action)
        return self.build(account, method, self.envelope(account, call), query="alt=sse" if call.action == "stream" else "")

    def events(self) -> UpstreamEvents:
        return CloudCodeEvents()

    def unwrap(self, doc: Any) -> Any:
        return unwrap(doc)

    def read_fault(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFault:
        return read_fault(status, headers, body)


class CloudCodeError(Exception):
    def __init__(self, message: str, status: int | None = None, fault: UpstreamFault | None = None) -> None:
        super().__init__(message)
        self.status, self.fault = status, fault


class CloudCodeApi:
    """Unary Cloud Code calls outside the dispatcher (setup, quotas, warmup), with base-URL fallback."""

    def __init__(self, provider: CloudCode, *, verify_tls: bool = True, timeout_s: float = 30.0) -> None:
        self.provider = provider
        self.client = httpx.AsyncClient(timeout=timeout_s, verify=verify_tls, trust_env=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(self, account: Account, method: str, body: dict | None = None, *, get: str | None = None) -> dict:
        req = self.provider.build(account, method, body or {}, get=get)
        resp = await send_with_fallback(self.client, req)
        try:
            data = await resp.aread()
        finally:
            await resp.aclose()
        if resp.status_code != 200:
            fault = read_fault(resp.status_code, resp.headers, data)
            raise CloudCodeError(f"{method or get}: HTTP {resp.status_code}: {fault.message[:200]}",
                                 resp.status_code, fault)
        try:
            doc = json.loads(data)
        except ValueError:
            raise CloudCodeError(f"{method or get}: not JSON", 502) from None
        if not isinstance(doc, dict):
            raise CloudCodeError(f"{method or get}: not a JSON object", 502)
        return doc
