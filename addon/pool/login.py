"""`interlock accounts login`: Google's installed-app OAuth flow, so a user adds an account with a
browser instead of copying refresh tokens around.

PKCE (S256) protects the code; the redirect goes to a one-shot HTTP listener on 127.0.0.1 (a
loopback redirect is what Google allows installed apps). `access_type=offline` and
`prompt=consent` make Google hand out a refresh token every time, also for an account that
consented before. On a machine without a browser the URL is printed and the user pastes back
the address the browser ended on (or just its `code`). interlock ships no client: the client id
and secret come from the settings, and the account file remembers the client's name, because a
refresh token only works with the client that issued it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from addon.config import OAuthClient, Settings

CALLBACK_PATH = "/oauth2callback"


class LoginError(Exception):
    """The flow did not produce a refresh token; the message says why (never a secret)."""


@dataclass(frozen=True)
class Tokens:
    refresh_token: str
    access_token: str
    expires_at: float
    email: str | None


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def auth_url(settings: Settings, client: OAuthClient, redirect_uri: str, state: str, challenge: str,
             login_hint: str | None = None) -> str:
    query = {"client_id": client.client_id, "redirect_uri": redirect_uri, "response_type": "code",
             "scope": " ".join(settings.oauth_scopes), "state": state, "code_challenge": challenge,
             "code_challenge_method": "S256", "access_type": "offline", "prompt": "consent"}
    if login_hint:
        query["login_hint"] = login_hint
    return f"{settings.oauth_auth_url}?{urlencode(query)}"


def read_redirect(pasted: str, state: str) -> str:
    """The code from a pasted redirect address (its `state` must match) or from a bare code."""
    pasted = pasted.strip()
    if "code=" not in pasted and "error=" not in pasted:
        if not pasted:
            raise LoginError("nothing was pasted")
        return pasted
    query = {k: v[0] for k, v in parse_qs(urlsplit(pasted).query or pasted.split("?", 1)[-1]).items()}
    if "error" in query:
        raise LoginError(f"Google answered {query['error']}")
    if query.get("state") != state:
        raise LoginError("the pasted address belongs to another login attempt (state does not match)")
    if not query.get("code"):
        raise LoginError("the pasted address holds no code")
    return query["code"]


class Loopback:
    """A one-shot listener for the redirect: answers the browser, hands the query to the flow."""

    def __init__(self) -> None:
        self.received: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    async def start(self) -> Loopback:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
            url = urlsplit(target)
            if url.path != CALLBACK_PATH:
                body, status = b"not found", "404 Not Found"
            else:
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                ok = "code" in query
                text = ("Signed in. You can close this tab and return to the terminal." if ok
                        else f"Sign-in failed: {html.escape(query.get('error', 'no code'))}")
                body, status = f"<!doctype html><title>interlock</title><p>{text}</p>".encode(), "200 OK"
                if not self.received.done():
                    self.received.set_result(query)
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, IndexError, ConnectionError):
            pass
        finally:
            writer.close()


async def exchange(http: httpx.AsyncClient, settings: Settings, client: OAuthClient, code: str, verifier: str,
                   redirect_uri: str) -> Tokens:
    form = {"grant_type": "authorization_code", "code": code, "client_id": client.client_id,
            "redirect_uri": redirect_uri, "code_verifier": verifier}
    if client.client_secret:
        form["client_secret"] = client.client_secret
    resp = await http.post(settings.oauth_token_url, data=form)
    doc = resp.json() if resp.content else {}
    if resp.status_code != 200 or not isinstance(doc, dict) or not doc.get("access_token"):
        error = doc.get("error") if isinstance(doc, dict) else None
        raise LoginError(f"the token endpoint refused the code: {error or f'HTTP {resp.status_code}'}")
    if not doc.get("refresh_token"):
        raise LoginError("Google gave no refresh token (was access_type=offline dropped by a proxy?)")
    email = None
    info = await http.get(settings.oauth_userinfo_url, headers={"authorization": f"Bearer {doc['access_token']}"})
    if info.status_code == 200 and isinstance(info.json(), dict):
        email = info.json().get("email")
    return Tokens(doc["refresh_token"], doc["access_token"], time.time() + float(doc.get("expires_in") or 3599),
                  email if isinstance(email, str) else None)


def in_daemon_thread(fn: Callable[..., object], *args: object) -> asyncio.Future:
    """Runs a blocking call (a browser launcher that waits, `input()`) without holding up the loop
    or, if it never returns, the process's exit."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future = loop.create_future()

    def run() -> None:
        try:
            value: object = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting flow
            loop.call_soon_threadsafe(lambda e=e: result.done() or result.set_exception(e))
        else:
            loop.call_soon_threadsafe(lambda: result.done() or result.set_result(value))

    threading.Thread(target=run, daemon=True, name="login-helper").start()
    return result


async def login(settings: Settings, client: OAuthClient, *, say: Callable[[str], None],
                open_browser: Callable[[str], bool] | None, ask: Callable[[str], Awaitable[str]],
                login_hint: str | None = None, timeout_s: float = 300.0, verify_tls: bool = True) -> Tokens:
    """The whole flow. `open_browser` None (headless) or failing → print the URL and ask for a paste;
    a redirect reaching the loopback listener wins in every case."""
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    loopback = await Loopback().start()
    pasted: asyncio.Future | None = None

    def headless(url: str) -> asyncio.Future:
        say(f"Open this address in a browser on any machine and sign in:\n{url}\n"
            "The browser then ends on a page that may not load; copy that page's address here.")
        return asyncio.ensure_future(ask("Address (or code): "))

    try:
        url = auth_url(settings, client, loopback.redirect_uri, state, challenge, login_hint)
        waiting: set[asyncio.Future] = {loopback.received}
        opening = None
        if open_browser is not None:
            say(f"Opening a browser to sign in. If none appears, open this address:\n{url}")
            opening = in_daemon_thread(open_browser, url)
            waiting.add(opening)
        else:
            pasted = headless(url)
            waiting.add(pasted)
        deadline = asyncio.get_running_loop().time() + timeout_s
        code = None
        while code is None:
            left = deadline - asyncio.get_running_loop().time()
            done, _ = await asyncio.wait(waiting, timeout=max(0.0, left), return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise LoginError(f"no sign-in within {int(timeout_s)} s")
            if loopback.received in done:
                query = loopback.received.result()
                if query.get("state") != state:
                    raise LoginError("the redirect belongs to another login attempt (state does not match)")
                if "code" not in query:
                    raise LoginError(f"Google answered {query.get('error', 'without a code')}")
                code = query["code"]
            elif pasted is not None and pasted in done:
                code = read_redirect(pasted.result(), state)
            elif opening is not None and opening in done:
                waiting.discard(opening)
                if opening.exception() is not None or not opening.result():
                    pasted = headless(url)
                    waiting.add(pasted)
        async with httpx.AsyncClient(timeout=30, verify=verify_tls, trust_env=False) as http:
            return await exchange(http, settings, client, code, verifier, loopback.redirect_uri)
    finally:
        if pasted is not None:
            pasted.cancel()
        await loopback.close()
