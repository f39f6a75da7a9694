"""The public Gemini API (`generativelanguage.googleapis.com`) reached with API-key accounts.

A provider only knows its upstream's URLs, headers and error shapes; the dispatcher drives it
without knowing which provider it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

from addon.pool.accounts import Account
from addon.protocols.sse import SSEDecoder
from addon.upstream.cooldown import UpstreamFault, read_fault
from addon.upstream.provider import UpstreamCall, UpstreamEvents, UpstreamRequest

API_VERSION = "v1beta"


class WireEvent(dict):
    """A parsed upstream event that keeps its wire text, so a client speaking the upstream's own
    protocol gets the bytes unchanged instead of a re-serialisation. Whoever changes the event
    must drop `wire`."""

    __slots__ = ("wire",)

    def __init__(self, doc: dict, wire: str) -> None:
        super().__init__(doc)
        self.wire = wire


class GeminiEvents(UpstreamEvents):
    """`data:` events are hub responses already; a raw JSON object in the stream is an error."""

    def __init__(self) -> None:
        self._sse = SSEDecoder()

    def feed(self, chunk: bytes) -> list[dict]:
        return [self._parse(e.data, e.raw) for e in self._sse.feed(chunk)]

    def close(self) -> list[dict]:
        return [self._parse(e.data, e.raw) for e in self._sse.close()]

    @staticmethod
    def _parse(data: str, raw: bool) -> dict:
        try:
            doc = json.loads(data)
        except ValueError:
            return {"error": {"code": 502, "status": "UNAVAILABLE",
                              "message": f"upstream sent an unreadable event: {data[:200]}"}}
        if isinstance(doc, dict) and not raw:
            return WireEvent(doc, data)
        if isinstance(doc, list) and doc and isinstance(doc[0], dict):
            doc = doc[0]
        if not isinstance(doc, dict):
            return {"error": {"code": 502, "status": "UNAVAILABLE", "message": "upstream sent a non-object event"}}
        return doc


class GeminiApiProvider:
    name = "gemini_api"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def request(self, account: Account, call: UpstreamCall) -> UpstreamRequest:
        base = (account.base_url or self.base_url).rstrip("/")
        model = quote(call.model, safe="-._~")
        if call.action == "stream":
            url = f"{base}/{API_VERSION}/models/{model}:streamGenerateContent?alt=sse"
        else:
            url = f"{base}/{API_VERSION}/models/{model}:{call.action}"
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",
            "x-goog-api-key": account.secret,
            "user-agent": "interlock/0.1",
        }
        body = json.dumps(call.body, ensure_ascii=False, separators=(",", ":")).encode()
        return UpstreamRequest("POST", url, headers, body)

    def events(self) -> UpstreamEvents:
        return GeminiEvents()

    def read_fault(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFault:
        return read_fault(status, headers, body)
