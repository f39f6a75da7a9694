"""Thought signatures as the real upstreams police them, and Claude models' way of signing.

An upstream accepts in a request only signatures it issued itself: Gemini answers an unknown one
with 400 "Corrupted thought signature.", Claude (through Antigravity) with 400 "Invalid
`signature` in `thinking` block". Gemini also accepts the documented sentinel
`skip_thought_signature_validator`; Claude does not. Claude models sign their thought parts
(fixture `cloudcode_stream_thinking.sse`), not the first answer part as Gemini 2.5 does.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .prompt import get

SENTINEL = "skip_thought_signature_validator"


def is_claude(model: str) -> bool:
    return model.startswith("claude-")


def check(request: dict[str, Any], model: str, issued: set[str]) -> errors.Error | None:
    """The 400 the upstream gives for a signature it never issued, or None."""
    for i, content in enumerate(get(request, "contents", []) or []):
        for part in get(content, "parts", []) or [] if isinstance(content, dict) else []:
            signature = get(part, "thoughtSignature") if isinstance(part, dict) else None
            if signature is None or signature in issued:
                continue
            if signature == SENTINEL and not is_claude(model):
                continue
            if is_claude(model):
                return errors.status_error(400, f"messages.{i}.content.0: Invalid `signature` in `thinking` block")
            return errors.status_error(400, "Corrupted thought signature.")
    return None


def sign_thoughts(events: list[dict[str, Any]], signature: str) -> list[dict[str, Any]]:
    """Claude style: every thought part carries the signature, answer text carries none."""
    for event in events:
        for cand in event.get("candidates") or ():
            for part in (cand.get("content") or {}).get("parts") or ():
                if part.get("thought"):
                    part["thoughtSignature"] = signature
                elif "text" in part:
                    part.pop("thoughtSignature", None)
    return events
