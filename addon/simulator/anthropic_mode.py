"""An Anthropic-compatible API (as z.ai's `/api/anthropic` serves it): `POST /v1/messages` (stream and
not) and `POST /v1/messages/count_tokens`, under any prefix ending in those paths.

The reply is the Gemini simulator's (same prompt rules, directives and tool choice), told in
Anthropic's events: `message_start`, `ping`, content blocks with their deltas, `message_delta`,
`message_stop`. Auth: `x-api-key` or a bearer token; none answers 401. Fault keys (`sim-…`, see
README) give Anthropic-shaped errors: `sim-429` a `rate_limit_error`, `sim-503` an
`overloaded_error` with status 529, `sim-midstream-error2` an `error` event after two events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from . import prompt as prompt_mod
from .connection import Exchange
from .delivery import Pacing
from .directives import DirectiveError
from .faults import FaultBook, FaultSyntaxError, parse_fault_key
from .log import LogRecord
from .reply import compose

PATHS = ("/v1/messages", "/v1/messages/count_tokens")
SSE_TYPE = "text/event-stream; charset=utf-8"
JSON_TYPE = "application/json"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


def _compact(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def sse(name: str, doc: dict) -> bytes:
    return f"event: {name}\ndata: ".encode() + _compact(doc) + b"\n\n"


def error_body(status: int, message: str, request_id: str) -> dict:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": request_id}


def tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


def to_gemini(body: dict) -> dict:
    """Enough of the request in Gemini's shape for the shared prompt reader."""
    contents, names = [], {}
    for message in body.get("messages") or []:
        if message.get("role") == "system":
            continue  # instructions (Claude Code sends them mid-conversation), not a turn
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        parts = []
        for block in blocks:
            kind = block.get("type")
            if kind == "text":
                parts.append({"text": block.get("text", "")})
            elif kind == "tool_use":
                names[block.get("id")] = block.get("name", "")
                parts.append({"functionCall": {"name": block.get("name", ""), "args": block.get("input") or {}}})
            elif kind == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = "".join(b.get("text", "") for b in inner if isinstance(b, dict))
                parts.append({"functionResponse": {"name": names.get(block.get("tool_use_id"), ""),
                                                   "response": {"output": inner}}})
        contents.append({"role": "model" if message.get("role") == "assistant" else "user", "parts": parts})
    tools = [{"name": t["name"], "parameters": t.get("input_schema") or {}}
             for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    choice = body.get("tool_choice") or {}
    config: dict = {"maxOutputTokens": body.get("max_tokens")}
    if (body.get("thinking") or {}).get("type") == "enabled":
        config["thinkingConfig"] = {"includeThoughts": True}
    calling = {"mode": "ANY"} if choice.get("type") in ("any", "tool") else {}
    if choice.get("type") == "tool":
        calling["allowedFunctionNames"] = [choice.get("name")]
    return {"contents": contents, "tools": [{"functionDeclarations": tools}] if tools else [],
            "toolConfig": {"functionCallingConfig": calling}, "generationConfig": config}


def check(body: Any, counting: bool) -> str | None:
    """Anthropic's own 400s for the mistakes clients make."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not counting and not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            return f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
        content = m.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                if isinstance(block, dict) and block.get("type") == "thinking" and not block.get("signature"):
                    return f"messages.{i}.content.{j}.thinking.signature: Field required"
        elif not isinstance(content, str):
            return f"messages.{i}.content: Input should be a valid list"
    return None


class AnthropicApi:
    def __init__(self, faults: FaultBook, log: list[LogRecord], pacing: Pacing,
                 clock: Callable[[], float]) -> None:
        self.faults, self.log, self.pacing, self.clock = faults, log, pacing, clock
        self._sequence = 0
        self.answers: list[bytes] = []  # every body sent, in order, so a test can compare what a relay delivered

    def reset(self) -> None:
        self.answers.clear()

    async def handle(self, exchange: Exchange) -> bool:
        req = exchange.request
        path = next((p for p in PATHS[::-1] if req.path.endswith(p)), None)
        if path is None or req.method != "POST":
            return False
        key = req.headers.get("x-api-key") or req.headers.get("authorization", "").removeprefix("Bearer ").strip()
        counting = path.endswith("count_tokens")
        record = LogRecord(req.method, req.path, key or None, self.clock())
        self.log.append(record)
        exchange.record = record
        self._sequence += 1
        request_id = "req_sim" + hashlib.sha256(req.body + self._sequence.to_bytes(8, "big")).hexdigest()[:20]
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return await self._error(exchange, 400, "request body is not valid JSON", request_id)
        record.request = body if isinstance(body, dict) else None
        if not key:
            return await self._error(exchange, 401, "x-api-key header is required", request_id)
        try:
            parse_fault_key(key)
        except FaultSyntaxError as e:
            return await self._error(exchange, 400, str(e), request_id)
        if problem := check(body, counting):
            return await self._error(exchange, 400, problem, request_id)
        record.model = body["model"]
        record.stream = body.get("stream") is True and not counting
        plan = self.faults.take(key)
        if plan.error is not None:
            status = 529 if plan.error.value == 503 else plan.error.value
            record.fault = f"{plan.error.kind}:{plan.error.value}"
            return await self._error(exchange, status, "Overloaded" if status == 529 else f"simulated {status}",
                                     request_id)
        if counting:
            return await self._json(exchange, {"input_tokens": tokens([body.get("system"), body["messages"],
                                                                       body.get("tools")])}, request_id)
        try:
            asked = prompt_mod.read(body["model"], to_gemini(body))
        except DirectiveError as e:
            return await self._error(exchange, 400, str(e), request_id)
        events = self._events(body, compose(asked), request_id)
        if not record.stream:
            return await self._json(exchange, self._whole(events), request_id)
        interval = self.pacing.interval_ms if asked.directives.interval_ms is None else asked.directives.interval_ms
        await exchange.start(200, [("Content-Type", SSE_TYPE), ("Cache-Control", "no-cache"),
                                   ("request-id", request_id)])
        self.answers.append(b"")
        midstream = plan.stream.value if plan.stream is not None and plan.stream.kind == "midstream" else None
        for i, (name, doc) in enumerate(events):
            if i:
                await exchange.pause(interval)
            if midstream is not None and i == midstream:
                record.fault = f"midstream:{midstream}"
                data = sse("error", error_body(529, "Overloaded", request_id))
                self.answers[-1] += data
                await exchange.send(data)
                break
            data = sse(name, doc)
            self.answers[-1] += data
            await exchange.send(data)
        await exchange.end()
        return True

    def _events(self, body: dict, reply, request_id: str) -> list[tuple[str, dict]]:
        model = body["model"]
        input_tokens = tokens([body.get("system"), body["messages"], body.get("tools")])
        message = {"id": "msg_" + request_id[7:], "type": "message", "role": "assistant", "model": model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": input_tokens, "output_tokens": 1}}
        events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": message}),
                                          ("ping", {"type": "ping"})]
        index, output = 0, 0
        if reply.thoughts and (body.get("thinking") or {}).get("type") == "enabled":
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for thought in reply.thoughts:
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "thinking_delta", "thinking": thought}}))
            signature = hashlib.sha256(request_id.encode()).hexdigest()
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "signature_delta", "signature": signature}}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        if reply.texts:
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}}))
            for text in reply.texts:
                output += tokens(text)
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "text_delta", "text": text}}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        for n, call in enumerate(reply.calls):
            call_id = f"toolu_sim{hashlib.sha256((request_id + str(n)).encode()).hexdigest()[:20]}"
            arguments = json.dumps(call["args"], ensure_ascii=False)
            output += tokens(arguments)
            events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": call_id, "name": call["name"], "input": {}}}))
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "input_json_delta", "partial_json": piece}}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        stop = "tool_use" if reply.calls else ("max_tokens" if reply.finish_reason == "MAX_TOKENS" else "end_turn")
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": {"input_tokens": input_tokens, "output_tokens": max(output, 1)}}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    @staticmethod
    def _whole(events: list[tuple[str, dict]]) -> dict:
        """The non-streamed answer: the same message the events build."""
        message = dict(events[0][1]["message"])
        blocks: dict[int, dict] = {}
        for _, doc in events:
            if doc["type"] == "content_block_start":
                blocks[doc["index"]] = dict(doc["content_block"], _json="")
            elif doc["type"] == "content_block_delta":
                block, delta = blocks[doc["index"]], doc["delta"]
                if delta["type"] == "text_delta":
                    block["text"] += delta["text"]
                elif delta["type"] == "thinking_delta":
                    block["thinking"] += delta["thinking"]
                elif delta["type"] == "signature_delta":
                    block["signature"] = delta["signature"]
                else:
                    block["_json"] += delta["partial_json"]
            elif doc["type"] == "message_delta":
                message["stop_reason"] = doc["delta"]["stop_reason"]
                message["usage"] = doc["usage"]
        content = []
        for _, block in sorted(blocks.items()):
            raw = block.pop("_json")
            if block["type"] == "tool_use":
                block["input"] = json.loads(raw) if raw else {}
            content.append(block)
        message["content"] = content
        return message

    async def _json(self, exchange: Exchange, doc: dict, request_id: str) -> bool:
        self.answers.append(_compact(doc))
        await exchange.respond(200, [("Content-Type", JSON_TYPE), ("request-id", request_id)], self.answers[-1])
        return True

    async def _error(self, exchange: Exchange, status: int, message: str, request_id: str) -> bool:
        headers = [("Content-Type", JSON_TYPE), ("request-id", request_id)]
        if status == 429:
            headers.append(("retry-after", "1"))
        await exchange.respond(status, headers, _compact(error_body(status, message, request_id)))
        return True
