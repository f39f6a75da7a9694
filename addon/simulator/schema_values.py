"""A JSON value that satisfies a schema: function-call arguments and structured output.

Schemas arrive in two dialects, Gemini's OpenAPI subset (`responseSchema`, `parameters`, types
written `OBJECT`, `STRING`) and JSON Schema (`responseJsonSchema`, `parametersJsonSchema`, types
lower-case, maybe a list, `$ref`, `anyOf`). Both are read by the same walk; type names are
compared case-insensitively.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hints:
    """What the request offers to fill strings with."""

    text: str = ""  # the user's prompt
    path: str | None = None  # the first absolute path in the prompt
    required_only: bool = False  # function arguments: only required properties


def value_for(schema: Any, hints: Hints, name: str = "", root: Any = None) -> Any:
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return _string(name, {}, hints)
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "any_of", "one_of"):
        options = [o for o in schema.get(combinator) or [] if _type_of(_resolve(o, root)) != "null"]
        if options:
            return value_for(options[0], hints, name, root)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root))
        return value_for(merged, hints, name, root)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, hints, root)
    if kind == "array":
        items = schema.get("items", {})
        count = max(1, int(_num(schema.get("minItems", schema.get("min_items"))) or 1))
        return [value_for(items, hints, name, root) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(name, schema, hints)


def _resolve(schema: Any, root: Any) -> dict[str, Any]:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema if isinstance(schema, dict) else {}
    target: Any = root
    for key in ref[2:].split("/"):
        target = target.get(key, {}) if isinstance(target, dict) else {}
    return target if isinstance(target, dict) else {}


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if kind:
        return str(kind).lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _object(schema: dict[str, Any], hints: Hints, root: Any) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    names = [n for n in properties if n in required] if hints.required_only else list(properties)
    names += [n for n in required if n not in names]
    ordering = schema.get("propertyOrdering") or schema.get("property_ordering")
    if ordering:
        names.sort(key=lambda n: ordering.index(n) if n in ordering else len(ordering))
    return {n: value_for(properties.get(n, {}), hints, n, root) for n in names}


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    value: float = 1
    low = _num(schema.get("minimum", schema.get("exclusiveMinimum")))
    high = _num(schema.get("maximum", schema.get("exclusiveMaximum")))
    if low is not None:
        value = max(value, low)
        if "exclusiveMinimum" in schema and value <= low:
            value = low + 1
    if high is not None and value >= high:
        value = high - 1 if "exclusiveMaximum" in schema else high
    if integer or float(value).is_integer():
        return int(math.ceil(value)) if integer else int(value)
    return value


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _string(name: str, schema: dict[str, Any], hints: Hints) -> str:
    lowered = name.lower()
    path = hints.path
    fmt = str(schema.get("format", "")).lower()
    if fmt == "date-time":
        return "2025-01-01T00:00:00Z"
    if fmt == "date":
        return "2025-01-01"
    if fmt in ("uri", "url") or lowered in ("url", "uri"):
        return "https://example.com/"
    if "path" in lowered or "file" in lowered or lowered in ("dir", "directory"):
        return path or "/tmp/example.txt"
    if lowered in ("cmd", "command", "script"):
        return f"cat {path}" if path else "ls"
    value = _short(hints.text) or name.replace("_", " ") or "value"
    if lowered in ("pattern", "query", "q", "search", "regex"):
        value = (re.findall(r"[\w.-]{3,}", hints.text) or ["example"])[-1]
    return _fit_length(value, schema)


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def _fit_length(value: str, schema: dict[str, Any]) -> str:
    low = _num(schema.get("minLength", schema.get("min_length")))
    high = _num(schema.get("maxLength", schema.get("max_length")))
    if low is not None and len(value) < low:
        value = value + "x" * (int(low) - len(value))
    if high is not None and len(value) > high:
        value = value[:int(high)]
    return value
