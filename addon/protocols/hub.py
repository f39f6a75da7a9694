"""What every stream translator reads from a hub event (a Gemini `GenerateContentResponse`).

Translators differ in what they emit, not in how an event is read: running usage, a blocked
prompt, the first candidate's parts and its finish reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INTERRUPTED = "upstream stream ended without a finishReason (interrupted)"
"""The one message for an upstream stream that ended before saying it was done."""


@dataclass(frozen=True, slots=True)
class HubDelta:
    usage: dict | None = None
    block_reason: str | None = None
    parts: list[dict] = field(default_factory=list)
    finish_reason: str | None = None


def read(event: dict) -> HubDelta:
    """The first candidate's news in `event` (multi-candidate readers walk `candidates` themselves)."""
    usage = event.get("usageMetadata")
    feedback = event.get("promptFeedback")
    block = feedback.get("blockReason") if isinstance(feedback, dict) else None
    parts: list[dict] = []
    finish = None
    for cand in (event.get("candidates") or ())[:1]:
        if not isinstance(cand, dict):
            continue
        content = cand.get("content")
        parts = [p for p in ((content.get("parts") or ()) if isinstance(content, dict) else ()) if isinstance(p, dict)]
        finish = cand.get("finishReason") or None
    return HubDelta(usage if isinstance(usage, dict) else None, str(block) if block else None, parts, finish)
