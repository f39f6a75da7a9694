"""The interface every upstream provider fills, and the values that cross it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx

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
    passthrough: object | None = None  # an Anthropic client's own request, for providers that speak Anthropic


@dataclass
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""
    secret_headers: tuple[str, ...] = field(default=("x-goog-api-key", "authorization"))
    fallback_urls: tuple[str, ...] = ()  # tried in order after a network error, 404, 408 or 5xx


class PrepareError(Exception):
    """A provider could not make an account ready (e.g. no Cloud Code project): try another one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


def fallback_status(status: int) -> bool:
    """Statuses after which the next base URL is tried: the host is down or does not know the call."""
    return status in (404, 408) or status >= 500


async def send_with_fallback(client: httpx.AsyncClient, req: UpstreamRequest) -> httpx.Response:
    """Sends to each URL in turn until one answers with something other than a network error,
    404, 408 or 5xx; the last URL's answer (or error) is returned (raised) as it is."""
    urls = [req.url, *req.fallback_urls]
    for i, url in enumerate(urls):
        last = i == len(urls) - 1
        try:
            resp = await client.send(client.build_request(req.method, url, headers=req.headers,
                                                          content=req.body or None), stream=True)
        except httpx.HTTPError:
            if last:
                raise
            continue
        if last or not fallback_status(resp.status_code):
            return resp
        await resp.aclose()
    raise AssertionError("unreachable: a request has at least one URL")
