"""The session a request belongs to, so the scheduler can keep a conversation on one account
(upstream prompt caches are per account).

Strongest signal first: an explicit `x-interlock-session` header, the session headers of Claude
Code (`x-claude-code-session-id`) and Codex (`session-id`),
`metadata.user_id` (Anthropic), `prompt_cache_key` (OpenAI Responses), else a hash of the first
user turn, which stays the same for every later request of the conversation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

SESSION_HEADERS = ("x-interlock-session", "x-claude-code-session-id", "session-id", "session_id", "x-session-id")


def _digest(text: str) -> str:
    return "sid-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _text(value: object) -> str:
    """Text of a Gemini `parts` list, an Anthropic/OpenAI content list, or a plain string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    if isinstance(value, dict):
        for key in ("text", "input_text"):
            if isinstance(value.get(key), str):
                return value[key]
        if "parts" in value:
            return _text(value["parts"])
        if "content" in value:
            return _text(value["content"])
    return ""


def _first_user_text(doc: Mapping) -> str:
    for key in ("contents", "messages", "input"):
        turns = doc.get(key)
        if isinstance(turns, str):
            return turns
        for turn in turns if isinstance(turns, list) else ():
            if isinstance(turn, dict) and turn.get("role", "user") == "user":
                text = _text(turn).strip()
                if len(text) >= 3 and "<system-reminder>" not in text:
                    return text
    return ""


def session_key(headers: Mapping[str, str], doc: Mapping) -> str | None:
    """A stable key for the conversation `doc` belongs to; None when there is nothing to go on."""
    for name in SESSION_HEADERS:
        if value := headers.get(name):
            return _digest(name + value)
    meta = doc.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("user_id"), str) and meta["user_id"]:
        return _digest("user:" + meta["user_id"])
    if isinstance(doc.get("prompt_cache_key"), str) and doc["prompt_cache_key"]:
        return _digest("cache:" + doc["prompt_cache_key"])
    if text := _first_user_text(doc):
        return _digest("turn:" + text)
    return None if not doc else _digest("body:" + json.dumps(doc, sort_keys=True, default=str)[:4096])
