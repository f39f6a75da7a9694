"""Hub stream (GenerateContentResponse deltas) → Anthropic Messages events. A state machine, no I/O.

    message_start
    (content_block_start  content_block_delta*  content_block_stop)*    thinking | text | tool_use
    message_delta  message_stop                                         or one `error` event

Thought parts open a thinking block; the signature the upstream attaches (to a thought part, to
the first answer part or to the function call that follows) is sent as `signature_delta` just
before that block closes, and handed to `on_signature` so echoed history can be trusted later.
Function calls arrive whole and become a tool_use block with one `input_json_delta`. The closing
events wait for the end of the upstream stream because Gemini may send a second `finishReason`
and the authoritative usage last; a stream that ends without any `finishReason` still closes
well-formed (Cloud Code omits it on thinking-only turns). An upstream error after the first byte
becomes an Anthropic `error` event, and nothing follows it.

`AnthropicEvents` yields event dicts; `AnthropicStreamWriter` frames them as SSE bytes;
`collect` folds them into the one Message a non-streaming client gets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from addon.errors import envelope, Protocol
from addon.protocols import hub
from addon.protocols.sse import dumps, encode

REFUSALS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                      "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})

SignatureSink = Callable[[str, str, str], None]
"""on_signature(kind, key, signature): kind "thinking" (key = thinking text) or "call" (key = tool id)."""


def _usage(meta: dict | None) -> dict[str, int]:
    """Anthropic usage from `usageMetadata`: input excludes the cached part; output counts thinking."""
    meta = meta or {}
    prompt = int(meta.get("promptTokenCount") or 0)
    cached = int(meta.get("cachedContentTokenCount") or 0)
    output = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return {"input_tokens": max(prompt - cached, 0), "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached, "output_tokens": output}


class AnthropicEvents:
    """Hub events in, Anthropic event dicts out."""

    def __init__(self, model: str, message_id: str, on_signature: SignatureSink | None = None) -> None:
        self.model = model
        self.message_id = message_id
        self.on_signature = on_signature
        self._started = False
        self._closed = False
        self._index = -1
        self._open: str | None = None  # type of the open block
        self._thinking = ""  # text of the open thinking block
        self._signature: str | None = None  # pending signature of the open thinking block
        self._finish: str | None = None
        self._blocked = False
        self._usage: dict | None = None
        self._calls = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, event: dict) -> list[dict]:
        if self._closed:
            return []
        out = self._start(event)
        delta = hub.read(event)
        self._usage = delta.usage or self._usage
        self._blocked = self._blocked or delta.block_reason is not None
        for part in delta.parts:
            out += self._part(part)
        self._finish = delta.finish_reason or self._finish
        return out

    def fail(self, status: int, message: str) -> list[dict]:
        if self._closed:
            return []
        self._closed = True
        return [envelope(Protocol.ANTHROPIC, status, message)]

    def close(self) -> list[dict]:
        if self._closed:
            return []
        out = self._start({}) + self._close_block()
        self._closed = True
        usage = _usage(self._usage)
        delta_usage = {"input_tokens": usage["input_tokens"], "cache_read_input_tokens": usage["cache_read_input_tokens"],
                       "output_tokens": usage["output_tokens"]}
        out.append({"type": "message_delta", "delta": {"stop_reason": self._stop_reason(), "stop_sequence": None},
                    "usage": delta_usage})
        out.append({"type": "message_stop"})
        return out

    def _stop_reason(self) -> str:
        if self._calls:
            return "tool_use"
        if self._blocked or self._finish in REFUSALS:
            return "refusal"
        if self._finish == "MAX_TOKENS":
            return "max_tokens"
        return "end_turn"

    def _start(self, event: dict) -> list[dict]:
        if self._started:
            return []
        self._started = True
        usage = _usage(event.get("usageMetadata"))
        usage["output_tokens"] = 0
        return [{"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage}}]

    def _part(self, part: dict) -> list[dict]:
        signature = part.get("thoughtSignature") or part.get("thought_signature")
        if part.get("thought"):
            out = [] if self._open == "thinking" else self._open_block({"type": "thinking", "thinking": "",
                                                                         "signature": ""})
            text = part.get("text") or ""
            if text:
                self._thinking += text
                out.append(self._delta({"type": "thinking_delta", "thinking": text}))
            if signature:
                self._signature = signature
            return out
        if signature and self._open == "thinking":
            self._signature = signature  # the upstream signed the thinking on the part after it
        if "functionCall" in part and isinstance(part["functionCall"], dict):
            return self._call(part["functionCall"], signature)
        text = part.get("text")
        if isinstance(part.get("inlineData"), dict):
            media = part["inlineData"]
            text = f"![image](data:{media.get('mimeType', 'image/png')};base64,{media.get('data', '')})"
        if not isinstance(text, str) or not text:
            return []
        out = [] if self._open == "text" else self._open_block({"type": "text", "text": ""})
        out.append(self._delta({"type": "text_delta", "text": text}))
        return out

    def _call(self, call: dict, signature: str | None) -> list[dict]:
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else self._tool_id()
        self._calls += 1
        args = call.get("args") if isinstance(call.get("args"), dict) else {}
        out = self._open_block({"type": "tool_use", "id": call_id, "name": str(call.get("name") or ""), "input": {}})
        out.append(self._delta({"type": "input_json_delta", "partial_json": dumps(args)}))
        out += self._close_block()
        if signature and self.on_signature is not None:
            self.on_signature("call", call_id, signature)
        return out

    def _tool_id(self) -> str:
        digest = hashlib.sha256(f"{self.message_id}/{self._calls}".encode()).hexdigest()
        return "toolu_" + digest[:24]

    def _open_block(self, block: dict) -> list[dict]:
        out = self._close_block()
        self._index += 1
        self._open = block["type"]
        return out + [{"type": "content_block_start", "index": self._index, "content_block": block}]

    def _delta(self, delta: dict) -> dict:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _close_block(self) -> list[dict]:
        if self._open is None:
            return []
        out = []
        if self._open == "thinking" and self._signature:
            out.append(self._delta({"type": "signature_delta", "signature": self._signature}))
            if self.on_signature is not None:
                self.on_signature("thinking", self._thinking, self._signature)
        out.append({"type": "content_block_stop", "index": self._index})
        self._open, self._thinking, self._signature = None, "", None
        return out


def frame(events: Iterable[dict]) -> bytes:
    return b"".join(encode(dumps(e), e["type"]) for e in events)


class AnthropicStreamWriter:
    """The `StreamWriter` the relay drives: `AnthropicEvents` framed as SSE (`event:` + `data:`)."""

    def __init__(self, model: str, message_id: str, on_signature: SignatureSink | None = None) -> None:
        self.events = AnthropicEvents(model, message_id, on_signature)

    def feed(self, event: dict) -> bytes:
        return frame(self.events.feed(event))

    def ping(self) -> bytes:
        return frame([{"type": "ping"}])

    def fail(self, status: int, message: str) -> bytes:
        return frame(self.events.fail(status, message))

    def close(self) -> bytes:
        return frame(self.events.close())


def accumulate(events: Iterable[dict]) -> dict:
    """Anthropic stream events → the Message they describe (what the SDK's accumulator builds)."""
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = json.loads(json.dumps(event["message"]))
        elif kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop":
            if event["index"] in partial:
                message["content"][event["index"]]["input"] = json.loads(partial.pop(event["index"]) or "{}")
        elif kind == "message_delta":
            message.update(event["delta"])
            message["usage"].update(event["usage"])
    return message


def collect(hub_events: Iterable[dict], model: str, message_id: str,
            on_signature: SignatureSink | None = None) -> dict:
    """A whole upstream stream → one Message, through the same state machine as streaming."""
    machine = AnthropicEvents(model, message_id, on_signature)
    events: list[dict] = []
    for event in hub_events:
        events += machine.feed(event)
    events += machine.close()
    return accumulate(events)
