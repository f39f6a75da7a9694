"""GenerateContentResponse objects for a reply, with the key order and usage rules of the captures.

Key order (gemini_stream_*.sse): candidate `content{parts, role}, finishReason, index,
finishMessage`; top level `candidates, usageMetadata, modelVersion, responseId`; usage
`promptTokenCount, candidatesTokenCount, totalTokenCount, promptTokensDetails,
thoughtsTokenCount`. In a stream every event repeats the running usage totals,
`candidatesTokenCount` appears only once answer tokens exist, and only the last event carries
`finishReason`. Thought signatures sit on the first answer part (Gemini 2.5 style) or on the
function call part; Gemini 3 models also give each call an `id`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .reply import Reply
from .tokens import estimate


@dataclass(frozen=True)
class Identity:
    """What every event of one response shares."""

    model: str
    response_id: str
    prompt_details: tuple[dict[str, Any], ...]
    cached: int = 0  # `cachedContentTokenCount` asked for by `[[sim cached=N]]`, at most the prompt

    @property
    def prompt_tokens(self) -> int:
        return sum(d["tokenCount"] for d in self.prompt_details)

    @property
    def signature(self) -> str:
        seed = self.response_id.encode()
        blob = b"\n@" + hashlib.sha256(seed + b"a").digest() + hashlib.sha256(seed + b"b").digest()
        return base64.b64encode(blob).decode()

    def call_id(self, index: int) -> str | None:
        if not self.model.startswith("gemini-3"):
            return None
        digest = hashlib.sha256(f"{self.response_id}/{index}".encode()).digest()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[b % len(alphabet)] for b in digest[:8])


def stream_events(reply: Reply, ident: Identity) -> list[dict[str, Any]]:
    """One response object per event; the last one is terminal."""
    steps: list[list[dict[str, Any]]] = [[{"text": t, "thought": True}] for t in reply.thoughts]
    for i, text in enumerate(reply.texts):
        steps.append([_signed({"text": text}, ident) if i == 0 and reply.thoughts
                      else {"text": text}])
    steps += [[{"inlineData": dict(blob)}] for blob in reply.images]
    if reply.calls:
        steps.append(_call_parts(reply, ident))
    if not reply.texts and not reply.calls and not reply.images:
        steps.append([])
    events = []
    thoughts = answer = ""
    for i, parts in enumerate(steps):
        for part in parts:
            if part.get("thought"):
                thoughts += part["text"]
            else:
                answer += _part_text(part)
        last = i == len(steps) - 1
        events.append(_response(parts, reply if last else None, ident, answer, thoughts))
    return events


def unary(reply: Reply, ident: Identity) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    thoughts = "".join(reply.thoughts)
    if thoughts:
        parts.append({"text": thoughts, "thought": True})
    text = "".join(reply.texts)
    if text:
        parts.append(_signed({"text": text}, ident) if thoughts else {"text": text})
    parts += [{"inlineData": dict(blob)} for blob in reply.images]
    parts += _call_parts(reply, ident)
    answer = "".join(_part_text(p) for p in parts if not p.get("thought"))
    return _response(parts, reply, ident, answer, thoughts)


def _signed(part: dict[str, Any], ident: Identity) -> dict[str, Any]:
    return {**part, "thoughtSignature": ident.signature}


def _call_parts(reply: Reply, ident: Identity) -> list[dict[str, Any]]:
    parts = []
    for i, call in enumerate(reply.calls):
        call_id = ident.call_id(i)
        body = {"name": call["name"], "args": call["args"]}
        if call_id:
            body["id"] = call_id
        part: dict[str, Any] = {"functionCall": body}
        parts.append(_signed(part, ident) if i == 0 else part)
    return parts


def _part_text(part: dict[str, Any]) -> str:
    if "functionCall" in part:
        return json.dumps(part["functionCall"], ensure_ascii=False)
    return part.get("text", "")


def _response(parts: list[dict[str, Any]], final: Reply | None, ident: Identity, answer: str,
              thoughts: str) -> dict[str, Any]:
    candidate: dict[str, Any] = {}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    if final is not None:
        candidate["finishReason"] = final.finish_reason
    candidate["index"] = 0
    if final is not None and final.finish_message:
        candidate["finishMessage"] = final.finish_message
    return {"candidates": [candidate], "usageMetadata": _usage(ident, answer, thoughts),
            "modelVersion": ident.model, "responseId": ident.response_id}


def _usage(ident: Identity, answer: str, thoughts: str) -> dict[str, Any]:
    candidates, thinking = estimate(answer), estimate(thoughts)
    usage: dict[str, Any] = {"promptTokenCount": ident.prompt_tokens}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = ident.prompt_tokens + candidates + thinking
    if ident.cached:
        usage["cachedContentTokenCount"] = min(ident.cached, ident.prompt_tokens)
    usage["promptTokensDetails"] = [dict(d) for d in ident.prompt_details]
    if thinking:
        usage["thoughtsTokenCount"] = thinking
    return usage
