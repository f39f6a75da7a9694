"""What a GenerateContentRequest asks for, read once so the answer logic sees plain fields.

Google's proto-JSON parser takes camelCase and snake_case alike, so every field is looked up
both ways. The "prompt part" is the last user text that is not a client's wrapper block
(`<session_context>`, `<system-reminder>`): that is what a person typed, what the answer quotes,
and the only place a function name counts as mentioned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import directives
from .directives import Directives

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
_ABS_PATH = re.compile(r"(?<![\w.~/-])(/(?:[\w.@+-]+/)*[\w.@+-]*\w)")


def get(obj: Any, name: str, default: Any = None) -> Any:
    """`obj[name]` under its camelCase or snake_case spelling."""
    if not isinstance(obj, dict):
        return default
    if name in obj:
        return obj[name]
    return obj.get(_SNAKE.sub("_", name).lower(), default)


@dataclass(frozen=True)
class Function:
    name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Prompt:
    model: str
    text: str = ""  # the prompt part, directives removed
    all_text: str = ""  # every text of the last user turn, directives removed
    directives: Directives = Directives()
    functions: tuple[Function, ...] = ()
    tool_mode: str = "AUTO"
    allowed_functions: tuple[str, ...] | None = None
    function_responses: tuple[dict[str, Any], ...] = ()
    include_thoughts: bool = False
    max_output_tokens: int | None = None
    json_schema: dict[str, Any] | None = None
    wants_json: bool = False
    media: tuple[tuple[str, int], ...] = ()  # (mimeType, bytes) of the last user turn's inline data

    def first_path(self) -> str | None:
        for source in (self.text, self.all_text):
            m = _ABS_PATH.search(source)
            if m:
                return m.group(1)
        return None


def read(model: str, request: dict[str, Any]) -> Prompt:
    """Raises DirectiveError for a bad `[[sim …]]` block."""
    contents = [c for c in get(request, "contents", []) or [] if isinstance(c, dict)]
    texts = _last_user_texts(contents)
    parsed = [directives.parse(t) for t in texts]
    merged: dict[str, Any] = {}
    for found, _ in parsed:
        merged.update({k: v for k, v in vars(found).items() if v is not None})
    cleaned = [rest.strip() for _, rest in parsed]
    config = get(request, "generationConfig", {}) or {}
    thinking = get(config, "thinkingConfig", {}) or {}
    calling = get(get(request, "toolConfig", {}), "functionCallingConfig", {}) or {}
    allowed = get(calling, "allowedFunctionNames")
    schema = get(config, "responseJsonSchema") or get(config, "responseSchema")
    return Prompt(
        model=model,
        text=_prompt_part(cleaned),
        all_text="\n".join(cleaned),
        directives=Directives(**merged),
        functions=tuple(_functions(get(request, "tools", []) or [])),
        tool_mode=str(get(calling, "mode", "AUTO") or "AUTO").upper(),
        allowed_functions=tuple(allowed) if allowed else None,
        function_responses=tuple(_function_responses(contents)),
        include_thoughts=bool(get(thinking, "includeThoughts"))
        and get(thinking, "thinkingBudget") != 0,
        max_output_tokens=get(config, "maxOutputTokens"),
        json_schema=schema if isinstance(schema, dict) else None,
        wants_json=str(get(config, "responseMimeType", "")).startswith("application/json"),
        media=tuple(_media(contents)),
    )


def _last_user_texts(contents: list[dict[str, Any]]) -> list[str]:
    for content in reversed(contents):
        if get(content, "role", "user") != "user":
            continue
        texts = [p["text"] for p in get(content, "parts", []) or []
                 if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")]
        if texts:
            return texts
    return []


def _media(contents: list[dict[str, Any]]) -> list[tuple[str, int]]:
    for content in reversed(contents):
        if get(content, "role", "user") != "user":
            continue
        blobs = [get(p, "inlineData") for p in get(content, "parts", []) or [] if isinstance(p, dict)]
        return [(str(get(b, "mimeType", "")), len(str(b.get("data", ""))) * 3 // 4)
                for b in blobs if isinstance(b, dict)]
    return []


def _prompt_part(texts: list[str]) -> str:
    typed = [t for t in texts if t and not t.startswith("<")]
    if typed:
        return typed[-1]
    return next((t for t in reversed(texts) if t), "")


def _functions(tools: list[Any]) -> list[Function]:
    found = []
    for tool in tools:
        for decl in get(tool, "functionDeclarations", []) or []:
            if isinstance(decl, dict) and decl.get("name"):
                schema = get(decl, "parametersJsonSchema") or get(decl, "parameters") or {}
                found.append(Function(decl["name"], schema if isinstance(schema, dict) else {}))
    return found


def _function_responses(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not contents:
        return []
    parts = get(contents[-1], "parts", []) or []
    return [get(p, "functionResponse") for p in parts
            if isinstance(p, dict) and isinstance(get(p, "functionResponse"), dict)]
