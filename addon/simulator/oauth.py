"""Google's OAuth token endpoint (`POST /token`, oauth2.googleapis.com), refresh grant only.

Bodies follow the fixtures `oauth_token.json`, `oauth_invalid_grant.json` and
`oauth_invalid_client.json` (upstream-protocol.md §7). Like the fault keys, the refresh token
chooses the outcome:

    revoked…          400 invalid_grant "Token has been expired or revoked."
    flaky…            503 on the first refresh with that token, then success
    …#ACCESS          success, and the access token is ACCESS (e.g. `rt#sim-401x1_a`, so the
                      Gemini API simulator answers the next call with that key's fault)
    anything else     success with a fresh `ya29.sim-…` access token each time

A `client_id` starting with `unknown` answers 401 invalid_client; a grant other than
`refresh_token` 400 unsupported_grant_type. `expires_in` is `Simulator(token_lifetime_s=…)`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from urllib.parse import parse_qs

from .connection import Exchange
from .log import LogRecord

SCOPE = ("https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
         "https://www.googleapis.com/auth/userinfo.profile openid")
_HEADERS = [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
            ("Pragma", "no-cache"), ("Server", "scaffolding on HTTPServer2"), ("X-Content-Type-Options", "nosniff")]


def _error(code: str, description: str) -> dict:
    return {"error": code, "error_description": description}


def _id_token(subject: str) -> str:
    """A JWT-shaped placeholder whose payload names a stable e-mail for the refresh token."""
    claims = {"iss": "https://accounts.google.com", "email": f"sim-{subject[:8]}@example.com", "email_verified": True}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.SIMULATED_SIGNATURE"


class OAuthApi:
    def __init__(self, log: list[LogRecord], clock: Callable[[], float], lifetime_s: int = 3599) -> None:
        self.log, self.clock, self.lifetime_s = log, clock, lifetime_s
        self.refreshes: dict[str, int] = {}

    def reset(self) -> None:
        self.refreshes.clear()

    async def handle(self, exchange: Exchange) -> bool:
        req = exchange.request
        if req.path != "/token":
            return False
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        record = LogRecord(req.method, req.path, form.get("client_id"), self.clock())
        self.log.append(record)
        exchange.record = record
        status, body = self._answer(req.method, form)
        await exchange.respond(status, list(_HEADERS), (json.dumps(body, indent=2) + "\n").encode())
        return True

    def _answer(self, method: str, form: dict[str, str]) -> tuple[int, dict]:
        if method != "POST":
            return 405, _error("invalid_request", "Method not allowed.")
        if form.get("grant_type") != "refresh_token":
            return 400, _error("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        client = form.get("client_id", "")
        if not client or client.startswith("unknown"):
            return 401, _error("invalid_client", "The OAuth client was not found.")
        token = form.get("refresh_token", "")
        if not token:
            return 400, _error("invalid_request", "Missing required parameter: refresh_token")
        seen = self.refreshes.get(token, 0)
        self.refreshes[token] = seen + 1
        if token.startswith("revoked"):
            return 400, _error("invalid_grant", "Token has been expired or revoked.")
        if token.startswith("flaky") and seen == 0:
            return 503, _error("internal_failure", "Backend Error")
        digest = hashlib.sha256(f"{token}|{seen}".encode()).hexdigest()
        access = token.split("#", 1)[1] if "#" in token else f"ya29.sim-{digest[:32]}"
        return 200, {"access_token": access, "expires_in": self.lifetime_s, "scope": SCOPE,
                     "token_type": "Bearer", "id_token": _id_token(hashlib.sha256(token.encode()).hexdigest())}
