"""Dispatch modes for `anthropic_key` accounts (reference §2.4, §9.1): which accounts may serve a call.

`off`: never. `exclusive`: every Anthropic client, passed through; other clients stay on Google.
`pooled`: they join the rotation for every client. `fallback`: used when the Google accounts
cannot serve (none usable, or every attempt failed), for every client.
"""

from __future__ import annotations

from collections.abc import Callable

from addon.pool.accounts import ANTHROPIC_KEY, Account
from addon.upstream.dispatcher import Scope
from addon.upstream.provider import UpstreamCall


def is_anthropic(account: Account) -> bool:
    return account.kind == ANTHROPIC_KEY


def is_google(account: Account) -> bool:
    return account.kind != ANTHROPIC_KEY


is_anthropic.describes = "an anthropic_key account (setting anthropic.dispatch)"  # type: ignore[attr-defined]
is_google.describes = "a Google account (Gemini API key or Google OAuth)"  # type: ignore[attr-defined]


def serves(mode: str, google: Callable[[Account], str | None]) -> Callable[[Account], str | None]:
    """The pool's predicate: `google`'s verdict, and Anthropic accounts unless the mode is off."""
    def verdict(account: Account) -> str | None:
        if is_anthropic(account):
            return "the anthropic dispatch mode is off (setting anthropic.dispatch)" if mode == "off" else None
        return google(account)
    return verdict


def scopes(mode: str) -> Callable[[UpstreamCall], list[Scope | None]]:
    """The scopes the dispatcher tries in turn for a call."""
    def for_call(call: UpstreamCall) -> list[Scope | None]:
        if mode == "exclusive":
            return [is_anthropic] if call.passthrough is not None else [is_google]
        if mode == "fallback":
            return [is_google, is_anthropic]
        return [None]
    return for_call
