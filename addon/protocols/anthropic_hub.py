"""Hub ↔ Anthropic Messages, for clients that do not speak Anthropic served by an Anthropic upstream.

`to_anthropic` turns a hub request (GenerateContent body) into a Messages request;
`HubEvents` turns the upstream's Messages stream into hub events, so the client's own stream
writer (OpenAI, Gemini, Responses) works unchanged. Anthropic clients never come here: they are
relayed untouched (`addon.upstream.anthropic_api`).
"""

from __future__ import annotations

import json
from collections import defaultdict

DEFAULT_MAX_TOKENS = 8192
MIN_THINKING_BUDGET = 1024  # Anthropic refuses smaller budgets

FINISH = {"end_turn": "STOP", "stop_sequence": "STOP", "tool_use": "STOP", "pause_turn": "STOP",
          "max_tokens": "MAX_TOKENS", "model_context_window_exceeded": "MAX_TOKENS", "refusal": "SAFETY"}
ERROR_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
                "api_error": 500, "overloaded_error": 529}


def _lower_types(schema: object) -> object:
    """Gemini writes schema types upper-case (`OBJECT`); JSON Schema wants them lower-case."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _tools(body: dict) -> list[dict]:
    tools = []
    for tool in body.get("tools") or ():
        for fn in tool.get("functionDeclarations") or tool.get("function_declarations") or ():
            schema = fn.get("parametersJsonSchema") or fn.get("parameters") or {"type": "object", "properties": {}}
            entry = {"name": fn["name"], "input_schema": _lower_types(schema)}
            if fn.get("description"):
                entry["description"] = fn["description"]
            tools.append(entry)
    return tools


def _tool_choice(body: dict) -> dict | None:
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = str(config.get("mode") or "AUTO").upper()
    allowed = config.get("allowedFunctionNames") or []
    if mode in ("ANY", "VALIDATED"):
        return {"type": "tool", "name": allowed[0]} if len(allowed) == 1 else {"type": "any"}
    if mode == "NONE":
        return {"type": "none"}
    return None


def _blocks(parts: list[dict], ids: dict[str, list[str]], counter: list[int]) -> list[dict]:
    """Gemini parts → content blocks; calls without an id get one that their response finds again."""
    blocks: list[dict] = []
    for part in parts:
        if part.get("thought"):
            continue  # the hub's thoughts carry Google signatures an Anthropic upstream cannot verify
        if isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        elif isinstance(call := part.get("functionCall"), dict):
            counter[0] += 1
            call_id = call.get("id") or f"toolu_{call.get('name', 'tool')}_{counter[0]}"
            ids[call.get("name", "")].append(call_id)
            blocks.append({"type": "tool_use", "id": call_id, "name": call.get("name", ""),
                           "input": call.get("args") or {}})
        elif isinstance(resp := part.get("functionResponse"), dict):
            name = resp.get("name", "")
            waiting = ids.get(name) or []
            call_id = resp.get("id") or (waiting.pop(0) if waiting else f"toolu_{name}_0")
            if resp.get("id") in waiting:
                waiting.remove(resp["id"])
            output = resp.get("response")
            if isinstance(output, dict) and set(output) <= {"output", "content", "result"} and len(output) == 1:
                output = next(iter(output.values()))
            text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
            blocks.append({"type": "tool_result", "tool_use_id": call_id, "content": text})
        elif isinstance(blob := part.get("inlineData"), dict):
            mime = blob.get("mimeType", "")
            kind = "image" if mime.startswith("image/") else "document"
            blocks.append({"type": kind, "source": {"type": "base64", "media_type": mime, "data": blob.get("data", "")}})
    return blocks


def _messages(contents: list[dict]) -> list[dict]:
    """Consecutive turns of one role become one message: Anthropic wants them alternating."""
    messages: list[dict] = []
    ids: dict[str, list[str]] = defaultdict(list)
    counter = [0]
    for content in contents:
        role = "assistant" if content.get("role") == "model" else "user"
        blocks = _blocks(content.get("parts") or [], ids, counter)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    for message in messages:  # tool results must come first in their message
        message["content"].sort(key=lambda b: b["type"] != "tool_result")
    return messages


def to_anthropic(body: dict, model: str, *, stream: bool, counting: bool = False) -> dict:
    """A hub request as a Messages (or count_tokens) request for `model`."""
    if counting and isinstance(inner := body.get("generateContentRequest"), dict):
        body = inner
    out: dict = {"model": model, "messages": _messages(body.get("contents") or [])}
    system = "\n\n".join(p["text"] for p in (body.get("systemInstruction") or {}).get("parts") or []
                         if isinstance(p.get("text"), str) and p["text"])
    if system:
        out["system"] = system
    if tools := _tools(body):
        out["tools"] = tools
        if choice := _tool_choice(body):
            out["tool_choice"] = choice
    if counting:
        return out
    config = body.get("generationConfig") or {}
    out["max_tokens"] = int(config.get("maxOutputTokens") or DEFAULT_MAX_TOKENS)
    for hub_key, key in (("temperature", "temperature"), ("topP", "top_p"), ("topK", "top_k"),
                         ("stopSequences", "stop_sequences")):
        if config.get(hub_key) is not None:
            out[key] = config[hub_key]
    thinking = config.get("thinkingConfig") or {}
    budget = thinking.get("thinkingBudget")
    if thinking.get("includeThoughts") and budget != 0:
        budget = max(MIN_THINKING_BUDGET, int(budget) if isinstance(budget, int) and budget > 0 else MIN_THINKING_BUDGET)
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        out["max_tokens"] = max(out["max_tokens"], budget + 1024)
        out.pop("temperature", None)  # thinking accepts only the default temperature
        out.pop("top_k", None)
    if stream:
        out["stream"] = True
    return out


def _candidate(parts: list[dict], finish: str | None = None) -> dict:
    candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate]}


def error_event(doc: dict, status: int | None = None) -> dict:
    """An Anthropic error body as the hub's in-stream error."""
    err = doc.get("error") if isinstance(doc.get("error"), dict) else {}
    kind = str(err.get("type") or "api_error")
    return {"error": {"code": status or ERROR_STATUS.get(kind, 502), "status": kind,
                      "message": str(err.get("message") or kind)}}


class HubEvents:
    """Anthropic stream events (parsed `data:` objects) → hub events."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict] = {}
        self.usage: dict = {}

    def usage_metadata(self) -> dict:
        prompt = self.usage.get("input_tokens", 0) + self.usage.get("cache_read_input_tokens", 0) \
            + self.usage.get("cache_creation_input_tokens", 0)
        out = self.usage.get("output_tokens", 0)
        meta = {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out}
        if self.usage.get("cache_read_input_tokens"):
            meta["cachedContentTokenCount"] = self.usage["cache_read_input_tokens"]
        return meta

    def event(self, doc: dict) -> list[dict]:
        kind = doc.get("type")
        if kind == "message_start":
            self.usage.update({k: v for k, v in ((doc.get("message") or {}).get("usage") or {}).items()
                               if isinstance(v, int)})
            return []
        if kind == "content_block_start":
            block = dict(doc.get("content_block") or {})
            block["json"] = ""
            self.blocks[doc.get("index", 0)] = block
            if block.get("type") == "text" and block.get("text"):
                return [_candidate([{"text": block["text"]}])]
            return []
        if kind == "content_block_delta":
            delta = doc.get("delta") or {}
            block = self.blocks.get(doc.get("index", 0), {})
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [_candidate([{"text": delta["text"]}])]
            if delta.get("type") == "thinking_delta" and delta.get("thinking"):
                return [_candidate([{"text": delta["thinking"], "thought": True}])]
            if delta.get("type") == "input_json_delta":
                block["json"] = block.get("json", "") + (delta.get("partial_json") or "")
            return []
        if kind == "content_block_stop":
            block = self.blocks.pop(doc.get("index", 0), {})
            if block.get("type") != "tool_use":
                return []
            try:
                args = json.loads(block["json"]) if block.get("json") else (block.get("input") or {})
            except ValueError:
                return [{"error": {"code": 502, "status": "api_error",
                                   "message": f"upstream sent unreadable tool input for {block.get('name')}"}}]
            return [_candidate([{"functionCall": {"name": block.get("name", ""), "args": args,
                                                  "id": block.get("id")}}])]
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (doc.get("usage") or {}).items() if isinstance(v, int)})
            reason = (doc.get("delta") or {}).get("stop_reason")
            if reason:
                event = _candidate([], FINISH.get(reason, "OTHER"))
                event["usageMetadata"] = self.usage_metadata()
                return [event]
            return []
        if kind == "error":
            return [error_event(doc)]
        return []  # ping, message_stop and whatever a newer API adds

