"""Access tokens for Google OAuth accounts: refreshed ahead of expiry, one refresh per account at a
time, the result written back to the account file.

`invalid_grant` means the refresh token is dead (revoked, expired, password changed): the account
is disabled with that reason, on disk, so it stays off after a restart until the user re-adds it.
Anything else (the token endpoint down, a timeout) is transient: the account cools down briefly
and the next request tries another one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping

import httpx

from addon.pool.accounts import GOOGLE_OAUTH, Account, mask
from addon.pool.scheduler import Pool
from addon.pool.store import AccountStore, StoreError

log = logging.getLogger(__name__)

REFRESH_AHEAD_S = 300.0  # refresh this long before the access token expires


class TokenError(Exception):
    """No access token for an account; `permanent` when the account was disabled for it."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class TokenManager:
    def __init__(self, pool: Pool, store: AccountStore | None, token_url: str, client_id: str = "",
                 client_secret: str = "", *, clock: Callable[[], float] = time.time,
                 timeout_s: float = 20.0, verify_tls: bool = True,
                 clients: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.pool, self.store, self.token_url = pool, store, token_url
        self.client_id, self.client_secret = client_id, client_secret
        self.clients = dict(clients or {})  # name → (client id, secret), from the settings
        self.clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._stale: dict[str, str] = {}
        self._flights: dict[str, asyncio.Task[tuple[str, float]]] = {}
        self._client = httpx.AsyncClient(timeout=timeout_s, verify=verify_tls, trust_env=False)
        self.refreshes = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    @staticmethod
    def needs_token(account: Account) -> bool:
        return account.kind == GOOGLE_OAUTH

    def _cached(self, account: Account) -> tuple[str, float] | None:
        token, expires = self._tokens.get(account.id) or (account.secret, account.expires_at or 0.0)
        if not token or self._stale.get(account.id) == token:
            return None
        return token, expires

    async def fresh(self, account: Account) -> Account:
        """`account` with a usable access token as its secret; refreshes when it is (nearly) expired."""
        cached = self._cached(account)
        if cached is None or cached[1] - REFRESH_AHEAD_S <= self.clock():
            flight = self._flights.get(account.id)
            if flight is None:  # single flight: concurrent requests share one refresh
                flight = asyncio.ensure_future(self._refresh(account))
                self._flights[account.id] = flight
                flight.add_done_callback(lambda _: self._flights.pop(account.id, None))
            cached = await asyncio.shield(flight)
        return dataclasses.replace(account, secret=cached[0], expires_at=cached[1])

    def invalidate(self, account: Account) -> None:
        """The upstream refused `account.secret` (401): the next `fresh` does not hand it out again.
        A newer token refreshed meanwhile (by another request) stays."""
        refused = account.secret
        cached = self._tokens.get(account.id)
        if cached is not None and cached[0] == refused:
            del self._tokens[account.id]
        if refused:
            self._stale[account.id] = refused

    async def _refresh(self, account: Account) -> tuple[str, float]:
        if not account.refresh_token:
            raise TokenError(f"{account.label}: no refresh token", permanent=True)
        if account.client and account.client not in self.clients:
            return self._transient(account, f"OAuth client {account.client!r} is not in the settings' oauth_clients")
        client_id, secret = self.client_for(account)
        form = {"grant_type": "refresh_token", "refresh_token": account.refresh_token, "client_id": client_id}
        if secret:
            form["client_secret"] = secret
        self.refreshes += 1
        try:
            resp = await self._client.post(self.token_url, data=form)
            doc = resp.json() if resp.content else {}
        except (httpx.HTTPError, ValueError) as e:
            return self._transient(account, f"token endpoint unreachable ({type(e).__name__})")
        if not isinstance(doc, dict):
            doc = {}
        if resp.status_code == 200 and isinstance(doc.get("access_token"), str):
            token = doc["access_token"]
            expires = self.clock() + float(doc.get("expires_in") or 3599)
            self._tokens[account.id] = (token, expires)
            self._stale.pop(account.id, None)
            changes: dict = {"access_token": token, "expires_at": expires}
            if isinstance(doc.get("refresh_token"), str) and doc["refresh_token"]:
                changes["refresh_token"] = doc["refresh_token"]
            self._save(account, changes)
            log.info("oauth: refreshed %s (%s)", account.label, mask(token))
            return token, expires
        error = str(doc.get("error") or f"HTTP {resp.status_code}")
        description = str(doc.get("error_description") or "")[:200]
        if error == "invalid_grant":
            reason = f"invalid_grant: {description or 'refresh token rejected'}; add the account again"
            self._save(account, {"enabled": False, "disabled_reason": reason})
            self.pool.disable(account.id, reason)
            raise TokenError(f"{account.label}: {reason}", permanent=True)
        return self._transient(account, f"token refresh failed: {error} {description}".strip())

    def client_for(self, account: Account) -> tuple[str, str]:
        """(client id, secret) that issued the account's refresh token: by its client's name, else by id."""
        if account.client in self.clients:
            return self.clients[account.client]
        client_id = account.client_id or self.client_id
        for known_id, secret in self.clients.values():
            if known_id == client_id:
                return known_id, secret
        return client_id, self.client_secret if client_id == self.client_id else ""

    def _transient(self, account: Account, reason: str) -> tuple[str, float]:
        self.pool.cool_down(account, None, None, reason, kind="token")
        raise TokenError(f"{account.label}: {reason}")

    def _save(self, account: Account, changes: dict) -> None:
        if self.store is None:
            return
        try:
            self.store.update(account.id, **changes)
        except StoreError as e:
            log.warning("oauth: could not save %s: %s", account.label, e)
