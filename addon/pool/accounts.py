"""Accounts as the gateway sees them: immutable snapshots of the files under
`$INTERLOCK_HOME/accounts/` (written by `store.py`, the only module that writes them).

A file that does not parse or validate is reported by name and skipped, never rewritten.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

GEMINI_API_KEY = "gemini_api_key"
GOOGLE_OAUTH = "google_oauth"
ANTHROPIC_KEY = "anthropic_key"
KINDS = (GEMINI_API_KEY, GOOGLE_OAUTH, ANTHROPIC_KEY)


@dataclass(frozen=True)
class Quota:
    """What the upstream last said about one model's remaining quota (fraction 0..1)."""

    model: str
    remaining: float
    reset_at: float | None = None  # unix seconds


@dataclass(frozen=True)
class Account:
    """One upstream identity. `secret` (API key, or OAuth access token) never leaves unmasked."""

    id: str
    kind: str
    secret: str
    label: str
    enabled: bool = True
    base_url: str | None = None
    email: str | None = None
    disabled_reason: str | None = None
    weight: float = 1.0
    max_concurrent: int | None = None
    models: tuple[str, ...] = ()
    quota: tuple[Quota, ...] = ()
    refresh_token: str | None = field(default=None, compare=False)
    client_id: str | None = None
    expires_at: float | None = None  # access token expiry, unix seconds
    client: str | None = None  # name of the OAuth client (settings `oauth_clients`) that issued the refresh token
    project_id: str | None = None  # Cloud Code project (`cloudaicompanionProject`)
    tier: str | None = None

    @property
    def masked(self) -> str:
        return mask(self.secret or self.refresh_token or "")

    def __repr__(self) -> str:
        return f"Account({self.id!r}, {self.kind}, {self.masked})"

    def capable(self, model: str) -> bool:
        """An account without a `models` list serves every model its provider knows."""
        return not self.models or any(fnmatch.fnmatchcase(model, p) for p in self.models)

    def quota_for(self, model: str) -> Quota | None:
        """The model's own snapshot, else the tightest one of its family."""
        exact = [q for q in self.quota if q.model == model]
        if exact:
            return exact[0]
        same = [q for q in self.quota if family(q.model) == family(model)]
        return min(same, key=lambda q: q.remaining) if same else None


def family(model: str) -> str:
    """Quota families shown in `interlock accounts list`: claude, gemini-pro, gemini-flash, …"""
    m = model.lower().removeprefix("models/")
    if "claude" in m:
        return "claude"
    if m.startswith("gemini"):
        for part in ("image", "flash", "pro"):
            if part in m:
                return f"gemini-{part}"
        return "gemini"
    return m.split("-", 1)[0] or m


def mask(secret: str) -> str:
    """`ya29.…abcd`: the prefix says what it is, the tail which one."""
    if len(secret) <= 8:
        return "…" + secret[-2:] if secret else ""
    head = secret.split(".", 1)[0] + "." if "." in secret[:8] else secret[:4]
    return f"{head}…{secret[-4:]}"


def load_dir(directory: Path) -> tuple[list[Account], list[str]]:
    """Accounts from `directory/*.json`, plus one problem line per file that was skipped."""
    from addon.pool.store import AccountStore

    return AccountStore(directory).load()
