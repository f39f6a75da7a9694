"""Deterministic token estimates: about four characters per token, media at a flat rate.

Exactness does not matter; consistency does. `countTokens` on a request and the
`promptTokenCount` of generating from it agree, and running totals only ever grow.
"""

from __future__ import annotations

import json
from typing import Any

MEDIA_TOKENS = 258
_MODALITIES = {"image": "IMAGE", "audio": "AUDIO", "video": "VIDEO"}


def estimate(text: str) -> int:
    return (len(text) + 3) // 4


def prompt_details(request: dict[str, Any]) -> list[dict[str, Any]]:
    """`promptTokensDetails` for a GenerateContentRequest: TEXT first, then media modalities."""
    counts: dict[str, int] = {"TEXT": 0}
    chars = 0
    sources = list(_list(request.get("contents")))
    for name in ("systemInstruction", "system_instruction"):
        if isinstance(request.get(name), dict):
            sources.append(request[name])
    for content in sources:
        for part in _list(content.get("parts")) if isinstance(content, dict) else []:
            if not isinstance(part, dict):
                continue
            media = part.get("inlineData") or part.get("inline_data") or part.get("fileData") \
                or part.get("file_data")
            if isinstance(media, dict):
                mime = str(media.get("mimeType") or media.get("mime_type") or "")
                modality = _MODALITIES.get(mime.split("/")[0], "DOCUMENT")
                counts[modality] = counts.get(modality, 0) + MEDIA_TOKENS
            elif isinstance(part.get("text"), str):
                chars += len(part["text"])
            else:
                chars += len(json.dumps(part, ensure_ascii=False))
    tools = request.get("tools")
    if tools:
        chars += len(json.dumps(tools, ensure_ascii=False))
    counts["TEXT"] = (chars + 3) // 4
    return [{"modality": m, "tokenCount": n} for m, n in counts.items()]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
