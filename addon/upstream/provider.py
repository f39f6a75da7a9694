"""The interface every upstream provider fills, and the values that cross it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from addon.pool.accounts import Account
from addon.upstream.cooldown import UpstreamFault

Action = Literal["stream", "countTokens", "generateContent"]


@dataclass
class UpstreamCall:
    """What the client asked for, in hub terms: an upstream model, an action, a hub body."""

    model: str
    action: Action
    body: dict
    session: str | None = None


@dataclass
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""
    secret_headers: tuple[str, ...] = field(default=("x-goog-api-key", "authorization"))


class UpstreamEvents(Protocol):
    """Upstream stream bytes (split anywhere) → hub events (GenerateContentResponse dicts).

    An event holding a top-level `error` is a mid-stream failure.
    """

    def feed(self, chunk: bytes) -> list[dict]: ...

    def close(self) -> list[dict]: ...


class Provider(Protocol):
    name: str

    def request(self, account: Account, call: UpstreamCall) -> UpstreamRequest: ...

    def events(self) -> UpstreamEvents: ...

    def read_fault(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFault: ...
