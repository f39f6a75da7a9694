"""The model catalogue `GET models` lists, in the shape of `gemini_models_list.json`.

Any name starting with `gemini-` is served even when it is not listed, because clients invent
names the catalogue has never heard of (Gemini CLI routes to `gemini-3.5-flash-lite`); those get a
synthesized entry from the family they look like.
"""

from __future__ import annotations

from typing import Any

GENERATE_METHODS = ("generateContent", "countTokens", "createCachedContent",
                    "batchGenerateContent")
_STREAMABLE = {"streamGenerateContent": "generateContent"}

# name, version, displayName, description, outputTokenLimit, topK, thinking
_GEMINI = [
    ("gemini-2.5-flash", "001", "Gemini 2.5 Flash",
     "Stable version of Gemini 2.5 Flash, our mid-size multimodal model that supports up to 1 "
     "million tokens, released in June of 2025.", 65536, 64, True),
    ("gemini-2.5-pro", "2.5", "Gemini 2.5 Pro",
     "Stable release (June 17th, 2025) of Gemini 2.5 Pro", 65536, 64, True),
    ("gemini-2.5-flash-lite", "001", "Gemini 2.5 Flash-Lite",
     "Stable version of Gemini 2.5 Flash-Lite, released in July of 2025", 65536, 64, True),
    ("gemini-2.0-flash", "2.0", "Gemini 2.0 Flash", "Gemini 2.0 Flash", 8192, 40, False),
    ("gemini-2.0-flash-001", "2.0", "Gemini 2.0 Flash 001",
     "Stable version of Gemini 2.0 Flash, our fast and versatile multimodal model for scaling "
     "across diverse tasks, released in January of 2025.", 8192, 40, False),
    ("gemini-2.0-flash-lite", "2.0", "Gemini 2.0 Flash-Lite", "Gemini 2.0 Flash-Lite", 8192, 40,
     False),
    ("gemini-2.0-flash-lite-001", "2.0", "Gemini 2.0 Flash-Lite 001",
     "Stable version of Gemini 2.0 Flash-Lite", 8192, 40, False),
    ("gemini-3-pro-preview", "3-pro-preview-11-2025", "Gemini 3 Pro Preview",
     "Gemini 3 Pro Preview", 65536, 64, True),
    ("gemini-3-flash-preview", "3-flash-preview-12-2025", "Gemini 3 Flash Preview",
     "Gemini 3 Flash Preview", 65536, 64, True),
]
_EMBEDDING = [
    ("embedding-001", "001", "Embedding 001"),
    ("text-embedding-004", "004", "Text Embedding 004"),
]


def _gemini_entry(name: str, version: str, display: str, description: str, output_limit: int,
                  top_k: int, thinking: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"models/{name}", "version": version, "displayName": display,
        "description": description, "inputTokenLimit": 1048576, "outputTokenLimit": output_limit,
        "supportedGenerationMethods": list(GENERATE_METHODS), "temperature": 1, "topP": 0.95,
        "topK": top_k, "maxTemperature": 2,
    }
    if thinking:
        entry["thinking"] = True
    return entry


MODELS: list[dict[str, Any]] = [_gemini_entry(*row) for row in _GEMINI] + [
    {"name": f"models/{name}", "version": version, "displayName": display,
     "description": "Obtain a distributed representation of a text.", "inputTokenLimit": 2048,
     "outputTokenLimit": 1, "supportedGenerationMethods": ["embedContent"]}
    for name, version, display in _EMBEDDING
]
_BY_NAME = {m["name"].removeprefix("models/"): m for m in MODELS}


def thinks(name: str) -> bool:
    """Whether the model produces thoughts; 1.x and 2.0 models do not."""
    return not name.startswith(("gemini-1", "gemini-2.0"))


def lookup(name: str) -> dict[str, Any] | None:
    """The Model entry for `name`, synthesized for unlisted `gemini-` names; None if unknown."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith("claude-"):
        return claude_entry(name)
    if not name.startswith("gemini-"):
        return None
    display = " ".join(w.capitalize() for w in name.split("-"))
    return _gemini_entry(name, "001", display, f"{display} (served by the interlock simulator)",
                         65536, 64, thinks(name))


def claude_entry(name: str) -> dict[str, Any]:
    """Claude models as the Antigravity upstream serves them next to Gemini: thinking, 64k out."""
    display = " ".join(w.capitalize() for w in name.split("-"))
    return _gemini_entry(name, "001", display, f"{display} (served by the interlock simulator)",
                         64000, 64, True)


def supports(entry: dict[str, Any], method: str) -> bool:
    return _STREAMABLE.get(method, method) in entry["supportedGenerationMethods"]


def page(size: int, offset: int) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the catalogue and the offset of the next page, if any."""
    items = MODELS[offset:offset + size]
    following = offset + size
    return items, following if following < len(MODELS) else None
