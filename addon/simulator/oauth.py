"""Google's OAuth endpoints: the token endpoint (`POST /token`: refresh and authorization-code
grants), the consent page (`GET /o/oauth2/v2/auth`, which consents at once and redirects with a
code) and `GET /oauth2/v2/userinfo` (the e-mail of a bearer token's owner).

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

The browser flow checks what Google checks for an installed app: a loopback `redirect_uri`, a
PKCE S256 `code_challenge` matched by the `code_verifier`, the same client and redirect URI at
the exchange, each code used once. A refresh token is issued only with `access_type=offline`;
it is `1//<login_hint>-<hex>` (so a test picks the Cloud Code account's behaviour, e.g.
`login_hint=noproject`, whose e-mail is then `noproject@example.com` at every sign-in), else
`1//sim-<hex>`. Every access token issued is remembered with its
refresh token: that pair is the identity the Cloud Code API and userinfo answer for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from .connection import Exchange
from .log import LogRecord

SCOPE = ("https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
         "https://www.googleapis.com/auth/userinfo.profile openid")
_HEADERS = [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
            ("Pragma", "no-cache"), ("Server", "scaffolding on HTTPServer2"), ("X-Content-Type-Options", "nosniff")]


def _error(code: str, description: str) -> dict:
    return {"error": code, "error_description": description}


def email_of(refresh_token: str) -> str:
    """The stable e-mail of the simulated Google account a refresh token belongs to."""
    return f"sim-{hashlib.sha256(refresh_token.encode()).hexdigest()[:8]}@example.com"


def _id_token(email: str) -> str:
    """A JWT-shaped placeholder whose payload names the account's e-mail."""
    claims = {"iss": "https://accounts.google.com", "email": email, "email_verified": True}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.SIMULATED_SIGNATURE"


class OAuthApi:
    def __init__(self, log: list[LogRecord], clock: Callable[[], float], lifetime_s: int = 3599) -> None:
        self.log, self.clock, self.lifetime_s = log, clock, lifetime_s
        self.refreshes: dict[str, int] = {}
        self.owners: dict[str, str] = {}  # access token → refresh token (the account)
        self.emails: dict[str, str] = {}  # refresh token → e-mail, for sign-ins with a login_hint
        self._codes: dict[str, dict[str, str]] = {}

    def reset(self) -> None:
        self.refreshes.clear()

    def email(self, refresh_token: str) -> str:
        return self.emails.get(refresh_token) or email_of(refresh_token)

    def owner(self, authorization: str | None) -> str | None:
        """The refresh token behind `Authorization: Bearer <access token>`, if this simulator issued it."""
        scheme, _, token = (authorization or "").partition(" ")
        return self.owners.get(token.strip()) if scheme.lower() == "bearer" else None

    async def handle(self, exchange: Exchange) -> bool:
        req = exchange.request
        if req.path == "/o/oauth2/v2/auth":
            await self._consent(exchange)
            return True
        if req.path in ("/oauth2/v2/userinfo", "/v1/userinfo"):
            await self._userinfo(exchange)
            return True
        if req.path != "/token":
            return False
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        record = LogRecord(req.method, req.path, form.get("client_id"), self.clock())
        self.log.append(record)
        exchange.record = record
        status, body = self._answer(req.method, form)
        await exchange.respond(status, list(_HEADERS), (json.dumps(body, indent=2) + "\n").encode())
        return True

    async def _consent(self, exchange: Exchange) -> None:
        """The consent page, consenting at once: 302 to the loopback redirect with a code."""
        q = exchange.request.query
        self.log.append(LogRecord(exchange.request.method, exchange.request.path, q.get("client_id"), self.clock()))
        problem = None
        redirect = urlsplit(q.get("redirect_uri", ""))
        if not q.get("client_id") or q["client_id"].startswith("unknown"):
            problem = "Error 401: invalid_client. The OAuth client was not found."
        elif redirect.scheme != "http" or redirect.hostname not in ("127.0.0.1", "localhost", "::1"):
            problem = "Error 400: invalid_request. redirect_uri must be a loopback address for this client."
        elif q.get("response_type") != "code":
            problem = "Error 400: unsupported_response_type."
        elif q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) < 43:
            problem = "Error 400: invalid_request. PKCE with S256 is required."
        if problem is not None:
            await exchange.respond(400, [("Content-Type", "text/html; charset=utf-8")], problem.encode())
            return
        code = "4/0sim-" + secrets.token_urlsafe(24)
        self._codes[code] = {k: q.get(k, "") for k in ("client_id", "redirect_uri", "code_challenge",
                                                         "access_type", "login_hint", "scope")}
        sep = "&" if "?" in q["redirect_uri"] else "?"
        target = q["redirect_uri"] + sep + urlencode({"state": q.get("state", ""), "code": code,
                                                      "scope": q.get("scope", SCOPE)})
        await exchange.respond(302, [("Location", target), ("Content-Type", "text/html; charset=utf-8")],
                               b"Moved Temporarily")

    async def _userinfo(self, exchange: Exchange) -> None:
        refresh = self.owner(exchange.request.headers.get("authorization"))
        self.log.append(LogRecord(exchange.request.method, exchange.request.path, None, self.clock()))
        if refresh is None:
            body = {"error": {"code": 401, "message": "Request is missing required authentication credential.",
                              "status": "UNAUTHENTICATED"}}
            await exchange.respond(401, list(_HEADERS), (json.dumps(body, indent=2) + "\n").encode())
            return
        digest = hashlib.sha256(refresh.encode()).hexdigest()
        body = {"id": str(int(digest[:15], 16)), "email": self.email(refresh), "verified_email": True,
                "name": "Simulated User", "picture": "https://example.com/sim.png"}
        await exchange.respond(200, list(_HEADERS), (json.dumps(body, indent=2) + "\n").encode())

    def _exchange_code(self, form: dict[str, str]) -> tuple[int, dict]:
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None:
            return 400, _error("invalid_grant", "Malformed auth code.")
        if form.get("client_id") != grant["client_id"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, _error("invalid_grant", "Bad Request")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if challenge != grant["code_challenge"]:
            return 400, _error("invalid_grant", "Invalid code verifier.")
        hint = grant["login_hint"]
        refresh = f"1//{hint.split('@')[0] or 'sim'}-{secrets.token_hex(8)}"
        if hint:  # the same person each time they sign in with this hint
            self.emails[refresh] = hint if "@" in hint else f"{hint}@example.com"
        access = f"ya29.sim-{secrets.token_hex(16)}"
        self.owners[access] = refresh
        body = {"access_token": access, "expires_in": self.lifetime_s, "scope": grant["scope"] or SCOPE,
                "token_type": "Bearer", "id_token": _id_token(self.email(refresh))}
        if grant["access_type"] == "offline":
            body["refresh_token"] = refresh
        return 200, body

    def _answer(self, method: str, form: dict[str, str]) -> tuple[int, dict]:
        if method != "POST":
            return 405, _error("invalid_request", "Method not allowed.")
        client = form.get("client_id", "")
        if form.get("grant_type") not in ("refresh_token", "authorization_code"):
            return 400, _error("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        if not client or client.startswith("unknown"):
            return 401, _error("invalid_client", "The OAuth client was not found.")
        if form["grant_type"] == "authorization_code":
            return self._exchange_code(form)
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
        self.owners[access] = token
        return 200, {"access_token": access, "expires_in": self.lifetime_s, "scope": SCOPE,
                     "token_type": "Bearer", "id_token": _id_token(self.email(token))}
