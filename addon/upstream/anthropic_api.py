"""Anthropic-compatible upstreams (z.ai and others) reached with `anthropic_key` accounts.

Two ways through: an Anthropic client's request is passed through (its body with the model
mapped and the cleaning below; the upstream's events relayed with their wire bytes, only the
model name put back), and any other client's hub request is translated (`anthropic_hub`).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from addon.config import AnthropicUpstream
from addon.pool.accounts import Account
from addon.protocols import anthropic_hub
from addon.upstream.cooldown import UpstreamFault, parse_retry_after
from addon.upstream.provider import UpstreamCall, UpstreamEvents, UpstreamRequest

ANTHROPIC_VERSION = "2023-06-01"
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta", "user-agent", "accept", "cache-control")
_BLOCK_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


@dataclass
class Passthrough:
    """An Anthropic client's own request: sent as it is, apart from the model and `clean`."""

    body: dict
    client_model: str
    headers: dict[str, str] = field(default_factory=dict)


def upstream_model(settings: AnthropicUpstream, model: str, *, keep_other: bool = True) -> str:
    """The reference's order: the mapping table, a `zai:` prefix stripped, `glm-*` kept, other non-Claude
    names kept (for Anthropic clients only: a hub model like `gemini-2.5-flash` means nothing here),
    then the opus/haiku/sonnet defaults."""
    for pattern, target in settings.model_mapping.items():
        if fnmatch.fnmatchcase(model, pattern):
            return target
    model = model.removeprefix("zai:")
    lower = model.lower()
    if lower.startswith("glm-") or (keep_other and "claude" not in lower):
        return model
    if "opus" in lower:
        return settings.opus
    if "haiku" in lower:
        return settings.haiku
    return settings.sonnet


def clean(body: dict, model: str) -> dict:
    """What an Anthropic-compatible upstream needs changed: the model, and no thinking block without a
    signature (every Anthropic-compatible API refuses those; they come from clients that strip them)."""
    out = {k: v for k, v in body.items() if v is not None}
    out["model"] = model
    messages = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            kept = [b for b in content if not (isinstance(b, dict) and b.get("type") == "thinking"
                                               and not b.get("signature"))]
            if len(kept) != len(content):
                message = {**message, "content": kept or [{"type": "text", "text": ""}]}
        messages.append(message)
    if "messages" in body:
        out["messages"] = messages
    return out


class WireEvent(dict):
    """An upstream event parsed, with its exact bytes (event lines and the blank line ending it)."""

    __slots__ = ("wire", "name")

    def __init__(self, doc: dict, wire: bytes, name: str | None) -> None:
        super().__init__(doc)
        self.wire = wire
        self.name = name


def split_events(buf: bytes) -> tuple[list[bytes], bytes]:
    """Whole SSE blocks (each with its terminating blank line) and the rest."""
    blocks, pos = [], 0
    for m in _BLOCK_END.finditer(buf):
        blocks.append(buf[pos:m.end()])
        pos = m.end()
    return blocks, buf[pos:]


def parse_block(block: bytes) -> tuple[str | None, str]:
    name, data = None, []
    for line in block.decode("utf-8", "replace").splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return name, "\n".join(data)


class AnthropicEvents(UpstreamEvents):
    """Messages SSE → events. Pass-through: `WireEvent`s (an error before anything else becomes the hub's
    error so the attempt fails over; later ones are relayed like any event). Hub: `HubEvents`."""

    def __init__(self, passthrough: bool) -> None:
        self.passthrough = passthrough
        self.hub = anthropic_hub.HubEvents()
        self._buf = b""
        self._started = False
        self._whole: bool | None = None  # a non-streamed answer: one JSON object, relayed whole at the end

    def feed(self, chunk: bytes) -> list[dict]:
        if self._whole is None and (head := (self._buf + chunk).lstrip()):
            self._whole = head.startswith(b"{")
        if self._whole:
            self._buf += chunk
            return []
        blocks, self._buf = split_events(self._buf + chunk)
        return [e for b in blocks for e in self._block(b)]

    def close(self) -> list[dict]:
        rest, self._buf = self._buf, b""
        if self._whole:
            return self._message(rest) if rest.strip() else []  # closing twice gives nothing more
        return self._block(rest) if rest.strip() else []

    def _message(self, body: bytes) -> list[dict]:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("type") == "error":
            return [anthropic_hub.error_event(doc if isinstance(doc, dict) else {}, None if doc else 502)]
        event = WireEvent(doc, body, None)
        self.hub.usage.update({k: v for k, v in (doc.get("usage") or {}).items() if isinstance(v, int)})
        event["usageMetadata"] = self.hub.usage_metadata()
        return [event]

    def _block(self, block: bytes) -> list[dict]:
        name, data = parse_block(block)
        if not data:
            if self.passthrough and self._started:
                return [WireEvent({}, block, name)]  # comments and keep-alives stay in the stream
            return []
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return [{"error": {"code": 502, "status": "api_error",
                               "message": f"upstream sent an unreadable event: {data[:200]}"}}]
        if not self.passthrough:
            return self.hub.event(doc)
        if doc.get("type") == "error" and not self._started:
            return [anthropic_hub.error_event(doc)]
        self._started = True
        if doc.get("type") == "error":  # relayed as sent; the dispatcher must not end the stream over it
            doc = {"type": "error", "upstream_error": doc.get("error")}
        event = WireEvent(doc, block, name)
        self.hub.event(doc)  # keeps the token counts for the monitor and the stats
        if doc.get("type") in ("message_start", "message_delta"):
            event["usageMetadata"] = self.hub.usage_metadata()
        return [event]


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, settings: AnthropicUpstream) -> None:
        self.settings = settings

    def request(self, account: Account, call: UpstreamCall) -> UpstreamRequest:
        base = (account.base_url or self.settings.base_url).rstrip("/")
        path = "/v1/messages/count_tokens" if call.action == "countTokens" else "/v1/messages"
        headers = {"content-type": "application/json", "accept-encoding": "identity",
                   "anthropic-version": ANTHROPIC_VERSION, "x-api-key": account.secret}
        passthrough = call.passthrough if isinstance(call.passthrough, Passthrough) else None
        if passthrough is not None:
            headers.update({k: v for k, v in passthrough.headers.items() if k in FORWARDED_HEADERS})
            body = clean(passthrough.body, upstream_model(self.settings, passthrough.client_model))
        else:
            model = upstream_model(self.settings, call.model, keep_other=False)
            body = anthropic_hub.to_anthropic(call.body, model, stream=call.action == "stream",
                                              counting=call.action == "countTokens")
            headers["accept"] = "text/event-stream" if call.action == "stream" else "application/json"
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return UpstreamRequest("POST", base + path, headers, data, secret_headers=("x-api-key", "authorization"))

    def events(self) -> UpstreamEvents:
        return AnthropicEvents(passthrough=False)

    def events_for(self, call: UpstreamCall) -> UpstreamEvents:
        return AnthropicEvents(passthrough=call.passthrough is not None)

    @staticmethod
    def unwrap(doc: dict) -> dict:
        """count_tokens answers `input_tokens`; the hub's callers read `totalTokens`."""
        if isinstance(doc, dict) and isinstance(doc.get("input_tokens"), int) and "type" not in doc:
            return {**doc, "totalTokens": doc["input_tokens"]}
        return doc

    def read_fault(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFault:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        err = doc.get("error") if isinstance(doc, dict) and isinstance(doc.get("error"), dict) else {}
        kind = str(err.get("type") or "")
        message = str(err.get("message") or body[:300].decode("utf-8", "replace") or f"HTTP {status}")
        if status == 502 and kind in anthropic_hub.ERROR_STATUS:  # an in-stream error event
            status = anthropic_hub.ERROR_STATUS[kind]
        return UpstreamFault(status, f"{kind}: {message}" if kind else message,
                             retry_after_s=parse_retry_after(headers.get("retry-after")))


class PassthroughWriter:
    """Relays upstream events byte for byte; only the model name in `message_start` is the client's."""

    def __init__(self, client_model: str, upstream_model: str) -> None:
        self._from = json.dumps(upstream_model, ensure_ascii=False)
        self._to = json.dumps(client_model, ensure_ascii=False)
        self._model = re.compile(rb'("model"\s*:\s*)' + re.escape(self._from.encode()))

    def feed(self, event: dict) -> bytes:
        wire = getattr(event, "wire", None)
        if wire is None:
            return b""
        if event.get("type") in ("message_start", "message") and self._from != self._to:
            wire = self._model.sub(lambda m: m.group(1) + self._to.encode(), wire, count=1)
        return wire

    def ping(self) -> bytes:
        return b'event: ping\ndata: {"type": "ping"}\n\n'

    def fail(self, status: int, message: str) -> bytes:
        kind = {v: k for k, v in anthropic_hub.ERROR_STATUS.items()}.get(status, "api_error")
        doc = {"type": "error", "error": {"type": kind, "message": message}}
        return b"event: error\ndata: " + json.dumps(doc, ensure_ascii=False).encode() + b"\n\n"

    def close(self) -> bytes:
        return b""

