"""Gateway errors and the one place that turns them into each client protocol's envelope.

Everything that can go wrong on the way through the gateway is one of three things: the client
sent something we refuse (`ClientError`), the upstream refused or broke (`UpstreamError`), or the
pool had nothing to send the request to (`PoolExhausted`). Handlers raise; `render` answers.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field


class Protocol(enum.StrEnum):
    """The wire protocol a client speaks; picks the error envelope and stream framing."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class GatewayError(Exception):
    status: int = 500
    kind: str = "api_error"

    def __init__(self, message: str, *, status: int | None = None, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.param = param
        self.code = code
        self.headers = dict(headers or {})


class ClientError(GatewayError):
    """The request is wrong; retrying it unchanged cannot help."""

    status = 400
    kind = "invalid_request_error"


class AuthError(ClientError):
    status = 401
    kind = "authentication_error"


class NotFound(ClientError):
    status = 404
    kind = "not_found_error"


class PayloadTooLarge(ClientError):
    status = 413
    kind = "request_too_large"


class NotImplementedYet(GatewayError):
    """A route whose capability a later release delivers; says which one."""

    status = 501
    kind = "not_implemented"


class UpstreamError(GatewayError):
    """The upstream answered with an error we pass on (after retries, if any were allowed)."""

    kind = "api_error"


@dataclass
class AttemptRecord:
    """One upstream attempt as shown to users: which account, what happened."""

    account: str
    status: int | None
    reason: str
    cooldown_s: float | None = None
    trace: object | None = field(default=None, repr=False, compare=False)  # upstream.trace.AttemptTrace

    def describe(self) -> str:
        what = str(self.status) if self.status is not None else "transport error"
        text = f"{self.account}: {what} {self.reason}".rstrip()
        if self.cooldown_s:
            text += f" (cooling down {math.ceil(self.cooldown_s)}s)"
        return text


@dataclass
class PoolExhausted(GatewayError):
    """No attempt succeeded and no account is left to try."""

    message: str = "no upstream account could serve this request"
    retry_after_s: float | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    rate_limited: bool = True

    def __post_init__(self) -> None:
        tried = "; ".join(a.describe() for a in self.attempts)
        full = f"{self.message}. Tried: {tried}" if tried else self.message
        GatewayError.__init__(self, full)
        limited = self.rate_limited and self.retry_after_s is not None
        self.status = 429 if limited else 503
        self.kind = "rate_limit_error" if limited else "overloaded_error"
        if self.retry_after_s is not None:
            self.headers["retry-after"] = str(min(120, max(1, math.ceil(self.retry_after_s))))


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    405: "INVALID_ARGUMENT", 408: "DEADLINE_EXCEEDED", 409: "ABORTED", 413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}

_ANTHROPIC_TYPE = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    501: "api_error", 503: "overloaded_error", 529: "overloaded_error",
    504: "timeout_error",
}

_OPENAI_TYPE = {
    400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
    404: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
    501: "not_implemented", 503: "service_unavailable",
}


def google_status(status: int) -> str:
    return _GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")


def envelope(protocol: Protocol, status: int, message: str, *, param: str | None = None,
             code: str | None = None) -> dict:
    """The error body each client protocol's SDK parses."""
    if protocol is Protocol.ANTHROPIC:
        return {"type": "error",
                "error": {"type": _ANTHROPIC_TYPE.get(status, "api_error" if status >= 500 else "invalid_request_error"),
                          "message": message}}
    if protocol is Protocol.GEMINI:
        return {"error": {"code": status, "message": message, "status": google_status(status)}}
    return {"error": {"message": message,
                      "type": _OPENAI_TYPE.get(status, "api_error" if status >= 500 else "invalid_request_error"),
                      "param": param, "code": code}}


def error_headers(status: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if (400 <= status < 500 and status not in (408, 409, 429)) or status == 501:
        headers["x-should-retry"] = "false"
    headers.update(extra or {})
    if status == 429 and "retry-after" not in headers:
        headers["retry-after"] = "1"
    return headers


def render(protocol: Protocol, err: GatewayError) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and JSON body for `err` in the client's own envelope."""
    body = envelope(protocol, err.status, err.message, param=err.param, code=err.code)
    return err.status, error_headers(err.status, err.headers), json.dumps(body).encode()
