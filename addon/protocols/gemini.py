"""Gemini-native clients: their protocol *is* the hub, so translation is checking and re-framing.

Requests are validated (a clear 400 naming the field beats an upstream 400 after a round trip)
and cleaned of values the upstream rejects. Upstream events are re-emitted in the framing the
client asked for: SSE (`alt=sse`) or the streamed JSON array Google sends without it.
"""

from __future__ import annotations

import json
from typing import Any

from addon.errors import ClientError, google_status
from addon.protocols.sse import dumps

_CONTENT_ROLES = {"user", "model", "function", "system", "tool"}
_OBJECT_FIELDS = ("generationConfig", "systemInstruction", "toolConfig")
_LIST_FIELDS = ("contents", "tools", "safetySettings")


def _type_name(v: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(v), type(v).__name__)


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ClientError(f"Invalid value at '{where}': expected {what}, got {_type_name(value)}", param=where)


def load_json_object(body: bytes) -> dict:
    if not body.strip():
        raise ClientError("request body is empty; expected a JSON object")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ClientError(f"Invalid JSON payload received: {e}") from None
    if not isinstance(doc, dict):
        raise ClientError(f"Invalid JSON payload received: expected an object, got {_type_name(doc)}")
    return doc


def _check_contents(contents: Any, where: str) -> None:
    _expect(contents, list, where, "a list of Content objects")
    for i, content in enumerate(contents):
        at = f"{where}[{i}]"
        _expect(content, dict, at, "a Content object")
        role = content.get("role")
        if role is not None:
            _expect(role, str, f"{at}.role", "a string")
            if role not in _CONTENT_ROLES:
                raise ClientError(f"Invalid value at '{at}.role': '{role}' is not one of user, model",
                                  param=f"{at}.role")
        parts = content.get("parts")
        if parts is None:
            raise ClientError(f"'{at}.parts' is required: a Content needs at least one part", param=f"{at}.parts")
        _expect(parts, list, f"{at}.parts", "a list of Part objects")
        for j, part in enumerate(parts):
            _expect(part, dict, f"{at}.parts[{j}]", "a Part object")
            if "text" in part:
                _expect(part["text"], str, f"{at}.parts[{j}].text", "a string")


def check_generate(doc: dict) -> dict:
    """Raise a 400 naming the first malformed field of a GenerateContentRequest."""
    if "contents" not in doc:
        raise ClientError("'contents' is required: a GenerateContentRequest needs at least one Content",
                          param="contents")
    for name in _LIST_FIELDS:
        if name in doc:
            _expect(doc[name], list, name, "a list")
    for name in _OBJECT_FIELDS:
        if name in doc and not (name == "systemInstruction" and isinstance(doc[name], str)):
            _expect(doc[name], dict, name, "an object")
    _check_contents(doc["contents"], "contents")
    if not doc["contents"]:
        raise ClientError("'contents' must not be empty", param="contents")
    if isinstance(doc.get("systemInstruction"), dict) and "parts" in doc["systemInstruction"]:
        _expect(doc["systemInstruction"]["parts"], list, "systemInstruction.parts", "a list of Part objects")
    config = doc.get("generationConfig") or {}
    for key in ("temperature", "topP"):
        if key in config:
            _expect(config[key], (int, float), f"generationConfig.{key}", "a number")
    for key in ("maxOutputTokens", "topK", "candidateCount"):
        if key in config:
            _expect(config[key], (int, float), f"generationConfig.{key}", "an integer")
    if "thinkingConfig" in config:
        _expect(config["thinkingConfig"], dict, "generationConfig.thinkingConfig", "an object")
    return doc


def count_tokens_body(doc: dict, upstream_model: str) -> dict:
    """A countTokens request for the upstream model, whichever of its two forms the client used."""
    if "generateContentRequest" in doc:
        inner = doc["generateContentRequest"]
        _expect(inner, dict, "generateContentRequest", "an object")
        check_generate(inner)
        return {"generateContentRequest": {**clean(inner), "model": f"models/{upstream_model}"}}
    if "contents" not in doc:
        raise ClientError("'contents' or 'generateContentRequest' is required", param="contents")
    _check_contents(doc["contents"], "contents")
    return {"contents": clean(doc["contents"])}


SIGNATURE_SENTINEL = "skip_thought_signature_validator"


def sign_function_calls(doc: dict, upstream_model: str) -> dict:
    """Gemini 3 rejects a model turn whose function calls carry no thought signature.

    History a client built itself (or got from another model) has none; the documented sentinel
    on the turn's first call is what Google tells such clients to send. Real signatures are kept.
    """
    if not upstream_model.startswith("gemini-3"):
        return doc
    for content in doc.get("contents") or ():
        if not isinstance(content, dict) or content.get("role") != "model":
            continue
        calls = [p for p in content.get("parts") or () if isinstance(p, dict) and "functionCall" in p]
        if calls and not any(p.get("thoughtSignature") or p.get("thought_signature") for p in calls):
            calls[0]["thoughtSignature"] = SIGNATURE_SENTINEL
    return doc


def clean(value: Any, depth: int = 0) -> Any:
    """Drop the `"[undefined]"` placeholders some JS clients serialise for missing values."""
    if depth > 64:
        return value
    if isinstance(value, dict):
        return {k: clean(v, depth + 1) for k, v in value.items() if v != "[undefined]"}
    if isinstance(value, list):
        return [clean(v, depth + 1) for v in value if v != "[undefined]"]
    return value


def error_object(status: int, message: str) -> dict:
    return {"error": {"code": status, "message": message, "status": google_status(status)}}


class GeminiStreamWriter:
    """Hub events → the client's stream bytes. A state machine: open → (events) → closed.

    `alt=sse` gives `data: {json}\\r\\n\\r\\n` per event; without it, the JSON array Google streams
    (`[{…}\\n,\\r\\n{…}\\n]`). An upstream that ends without a `finishReason` was cut off, and
    the client is told so with the error object Google itself writes into broken streams.
    """

    def __init__(self, sse: bool) -> None:
        self.sse = sse
        self._count = 0
        self._finished = False
        self._closed = False

    def feed(self, event: dict) -> bytes:
        for cand in event.get("candidates") or ():
            if isinstance(cand, dict) and cand.get("finishReason"):
                self._finished = True
        if event.get("promptFeedback", {}).get("blockReason") if isinstance(event.get("promptFeedback"), dict) else False:
            self._finished = True
        return self._frame(getattr(event, "wire", None) or dumps(event))

    def ping(self) -> bytes:
        """Bytes every Gemini SDK skips: a blank line (SSE) or whitespace (JSON array)."""
        return b"\r\n" if self.sse else b"\n"

    def fail(self, status: int, message: str) -> bytes:
        """The terminal bytes for a stream the upstream broke off after it had started."""
        if self._closed:
            return b""
        self._finished = True
        body = json.dumps(error_object(status, message), ensure_ascii=False, indent=2)
        if self.sse:
            self._closed = True
            return body.encode() + b"\n"
        return self._frame(body) + self.close()

    def close(self) -> bytes:
        if self._closed:
            return b""
        if not self._finished:
            return self.fail(502, "upstream stream ended without a finishReason (interrupted)")
        self._closed = True
        if self.sse:
            return b""
        return b"[]" if self._count == 0 else b"\n]"

    def _frame(self, payload: str) -> bytes:
        self._count += 1
        if self.sse:
            return b"data: " + payload.encode() + b"\r\n\r\n"
        return (b"[" if self._count == 1 else b"\n,\r\n") + payload.encode()


def collect(events: list[dict]) -> dict:
    """Streamed GenerateContentResponse deltas → the one response `generateContent` returns.

    Adjacent text parts of the same kind (thought or answer) are joined; every other part is kept
    in order; the last `finishReason`, `usageMetadata` and metadata win.
    """
    merged: dict[str, Any] = {}
    candidates: dict[int, dict] = {}
    for event in events:
        for key, value in event.items():
            if key != "candidates":
                merged[key] = value
        for pos, cand in enumerate(event.get("candidates") or ()):
            index = cand.get("index", pos)
            into = candidates.setdefault(index, {"content": {"parts": [], "role": "model"}})
            for key, value in cand.items():
                if key == "content":
                    _merge_parts(into["content"]["parts"], value.get("parts") or ())
                    if value.get("role"):
                        into["content"]["role"] = value["role"]
                else:
                    into[key] = value
    if candidates:
        out = {"candidates": [candidates[i] for i in sorted(candidates)]}
        out.update((k, v) for k, v in merged.items())
        return out
    return merged


def _merge_parts(into: list[dict], parts: Any) -> None:
    for part in parts:
        if not isinstance(part, dict):
            continue
        last = into[-1] if into else None
        if (last is not None and set(part) <= {"text", "thought", "thoughtSignature"} and "text" in part
                and set(last) <= {"text", "thought", "thoughtSignature"} and "text" in last
                and bool(last.get("thought")) == bool(part.get("thought"))
                and not ("thoughtSignature" in last and "thoughtSignature" in part)):
            last["text"] += part["text"]
            if "thoughtSignature" in part:
                last["thoughtSignature"] = part["thoughtSignature"]
            continue
        into.append(dict(part))
