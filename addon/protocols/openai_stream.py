"""Hub events → OpenAI answers: `chat.completion.chunk` SSE, `chat.completion`, and the legacy
`text_completion` (stream and whole).

`ChatTurn` reads hub events into per-choice deltas and remembers what it read; the stream
writers frame those deltas, the collectors build the whole answer from the same memory, so a
streamed and a non-streamed answer to one upstream stream cannot disagree. Ids and `created`
come from the caller: no clock, no randomness, so golden tests compare bytes.

Gemini sends a function call whole; it becomes two deltas (id, type and name with empty
arguments, then the arguments), the shape OpenAI streams and every SDK accumulator expects.
Thought text is sent as `reasoning_content` (the DeepSeek convention other gateways use).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from addon.errors import Protocol, envelope
from addon.protocols.hub import INTERRUPTED
from addon.protocols.sse import dumps

DONE = b"data: [DONE]\n\n"
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
          "IMAGE_SAFETY": "content_filter", "IMAGE_PROHIBITED_CONTENT": "content_filter"}
"""Gemini finishReason → OpenAI finish_reason; anything else (OTHER, MALFORMED_FUNCTION_CALL…) is `stop`."""


def usage(meta: dict | None) -> dict:
    """usageMetadata → OpenAI usage; reasoning tokens count as completion tokens, as OpenAI's do."""
    meta = meta or {}
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
            "completion_tokens_details": {"reasoning_tokens": thoughts}}


@dataclass
class _Choice:
    index: int
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    refusal: str | None = None
    finish: str | None = None


Delta = tuple[int, dict, str | None]
"""(choice index, delta, finish_reason)"""


class ChatTurn:
    """One answer's state across hub events: which choices started, their text, calls, finish."""

    def __init__(self, completion_id: str, *, single_call: bool = False) -> None:
        self.completion_id = completion_id
        self.single_call = single_call
        self.choices: dict[int, _Choice] = {}
        self.usage_metadata: dict | None = None
        self.finished = False

    def read(self, event: dict) -> list[Delta]:
        out: list[Delta] = []
        if isinstance(event.get("usageMetadata"), dict):
            self.usage_metadata = event["usageMetadata"]
        for pos, cand in enumerate(event.get("candidates") or ()):
            if isinstance(cand, dict):
                out += self._candidate(cand.get("index", pos), cand)
        feedback = event.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason") and not event.get("candidates"):
            choice, out = self._start(0, out)
            choice.refusal = f"The prompt was blocked by the upstream ({feedback['blockReason']})."
            out.append((0, {"refusal": choice.refusal}, None))
            out.append(self._finish(choice, "content_filter"))
        return out

    def _start(self, index: int, out: list[Delta]) -> tuple[_Choice, list[Delta]]:
        if index not in self.choices:
            self.choices[index] = _Choice(index)
            out.append((index, {"role": "assistant", "content": ""}, None))
        return self.choices[index], out

    def _finish(self, choice: _Choice, reason: str) -> Delta:
        if choice.tool_calls and reason == "stop":
            reason = "tool_calls"
        choice.finish = reason
        self.finished = True
        return choice.index, {}, reason

    def _candidate(self, index: int, cand: dict) -> list[Delta]:
        choice, out = self._start(index, [])
        content = cand.get("content") if isinstance(cand.get("content"), dict) else {}
        for part in content.get("parts") or ():
            if not isinstance(part, dict):
                continue
            if "functionCall" in part and isinstance(part["functionCall"], dict):
                out += self._call(choice, part["functionCall"])
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") else "content"
                (choice.reasoning if part.get("thought") else choice.content).append(part["text"])
                out.append((index, {key: part["text"]}, None))
            elif isinstance(part.get("inlineData"), dict):
                blob = part["inlineData"]
                text = f"![image](data:{blob.get('mimeType', 'image/png')};base64,{blob.get('data', '')})"
                choice.content.append(text)
                out.append((index, {"content": text}, None))
        if cand.get("finishReason") and choice.finish is None:
            out.append(self._finish(choice, FINISH.get(cand["finishReason"], "stop")))
        return out

    def _call(self, choice: _Choice, call: dict) -> list[Delta]:
        if self.single_call and choice.tool_calls:
            return []  # the client asked for parallel_tool_calls=false
        k = len(choice.tool_calls)
        call_id = call.get("id") or "call_" + hashlib.sha256(
            f"{self.completion_id}/{choice.index}/{k}".encode()).hexdigest()[:24]
        arguments = json.dumps(call.get("args") or {}, ensure_ascii=False, separators=(",", ":"))
        name = str(call.get("name") or "")
        choice.tool_calls.append({"id": call_id, "type": "function",
                                  "function": {"name": name, "arguments": arguments}})
        head = {"index": k, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        return [(choice.index, {"tool_calls": [head]}, None),
                (choice.index, {"tool_calls": [{"index": k, "function": {"arguments": arguments}}]}, None)]


def _error_event(status: int, message: str) -> bytes:
    """What openai-python turns into an APIError mid-stream: a data payload with an `error` object."""
    return b"data: " + dumps(envelope(Protocol.OPENAI, status, message)).encode() + b"\n\n"


class _SSEWriter:
    """Shared life cycle: open → (deltas) → closed with `[DONE]`, or failed with an error event."""

    def __init__(self, turn: ChatTurn) -> None:
        self.turn = turn
        self._closed = False

    def feed(self, event: dict) -> bytes:
        if self._closed:
            return b""
        return b"".join(self._frame(d) for d in self.turn.read(event))

    def ping(self) -> bytes:
        return b": keep-alive\n\n"

    def fail(self, status: int, message: str) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        return _error_event(status, message) + DONE

    def close(self) -> bytes:
        if self._closed:
            return b""
        if not self.turn.finished:
            return self.fail(502, INTERRUPTED)
        self._closed = True
        return self._tail() + DONE

    def _frame(self, delta: Delta) -> bytes:
        raise NotImplementedError

    def _tail(self) -> bytes:
        return b""


class ChatStreamWriter(_SSEWriter):
    """Hub events → `data: <chat.completion.chunk>` lines, the usage chunk if asked, `[DONE]`."""

    def __init__(self, completion_id: str, created: int, model: str, *, include_usage: bool = False,
                 single_call: bool = False) -> None:
        super().__init__(ChatTurn(completion_id, single_call=single_call))
        self.head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        self.include_usage = include_usage

    def _chunk(self, choices: list[dict], **extra: Any) -> bytes:
        doc = {**self.head, "choices": choices}
        if self.include_usage:
            doc["usage"] = extra.get("usage")
        return b"data: " + dumps(doc).encode() + b"\n\n"

    def _frame(self, delta: Delta) -> bytes:
        index, body, finish = delta
        return self._chunk([{"index": index, "delta": body, "logprobs": None, "finish_reason": finish}])

    def _tail(self) -> bytes:
        return self._chunk([], usage=usage(self.turn.usage_metadata)) if self.include_usage else b""


class CompletionStreamWriter(_SSEWriter):
    """Hub events → legacy `text_completion` chunks (answer text only), then `[DONE]`."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        super().__init__(ChatTurn(completion_id))
        self.head = {"id": completion_id, "object": "text_completion", "created": created, "model": model}

    def _frame(self, delta: Delta) -> bytes:
        index, body, finish = delta
        text = body.get("content")
        if finish is None and not text:
            return b""
        choice = {"text": text or "", "index": index, "logprobs": None, "finish_reason": _legacy(finish)}
        return b"data: " + dumps({**self.head, "choices": [choice]}).encode() + b"\n\n"


def _legacy(finish: str | None) -> str | None:
    """Legacy completions know no tool calls: a turn that made one simply stopped."""
    return "stop" if finish == "tool_calls" else finish


def _read_all(events: list[dict], completion_id: str, single_call: bool = False) -> ChatTurn:
    turn = ChatTurn(completion_id, single_call=single_call)
    for event in events:
        turn.read(event)
    return turn


def chat_completion(events: list[dict], completion_id: str, created: int, model: str, *,
                    single_call: bool = False) -> dict:
    """The whole `chat.completion` for a finished upstream stream."""
    turn = _read_all(events, completion_id, single_call)
    choices = []
    for index in sorted(turn.choices):
        c = turn.choices[index]
        message: dict[str, Any] = {"role": "assistant", "content": "".join(c.content) or None,
                                   "refusal": c.refusal}
        if c.reasoning:
            message["reasoning_content"] = "".join(c.reasoning)
        if c.tool_calls:
            message["tool_calls"] = c.tool_calls
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": c.finish or "stop"})
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": choices, "usage": usage(turn.usage_metadata)}


def text_completion(events: list[dict], completion_id: str, created: int, model: str, index: int = 0) -> dict:
    """The whole legacy `text_completion`; thoughts are not part of the completion text."""
    turn = _read_all(events, completion_id)
    ordered = [turn.choices[k] for k in sorted(turn.choices)]
    choices = [{"text": "".join(c.content), "index": index + i, "logprobs": None,
                "finish_reason": _legacy(c.finish) or "stop"} for i, c in enumerate(ordered)]
    plain = usage(turn.usage_metadata)
    return {"id": completion_id, "object": "text_completion", "created": created, "model": model,
            "choices": choices, "usage": {k: plain[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}}
