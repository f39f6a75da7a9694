"""JSON Schema (draft 2020-12, as Claude Code and MCP servers write it) → the Gemini `Schema` subset.

Gemini's function `parameters` accept an OpenAPI-3 subset and reject the rest with a 400
("Unknown name …", "properties: should be non-empty for OBJECT type"). So: `$ref`s are inlined
from `$defs`/`definitions` (a cycle becomes a plain object), type lists and `anyOf` with `null`
become `nullable`, `const` becomes a one-value enum, `allOf` is merged, `oneOf` becomes `anyOf`,
and keywords Gemini lacks are folded into the description so the model still sees the rule.
Pure; the input is never modified.
"""

from __future__ import annotations

import json
from typing import Any

_KEPT = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
         "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
         "pattern", "anyOf", "items", "minimum", "maximum", "default", "propertyOrdering"}
_DROPPED = {"$schema", "$id", "$comment", "$anchor", "$defs", "definitions", "examples", "example",
            "additionalProperties", "unevaluatedProperties", "patternProperties", "readOnly",
            "writeOnly", "deprecated", "contentEncoding", "contentMediaType", "discriminator",
            "enumDescriptions", "markdownDescription", "propertyNames", "dependentRequired",
            "dependentSchemas", "if", "then", "else", "not", "contains", "prefixItems"}
_FOLDED = {"exclusiveMinimum": "greater than", "exclusiveMaximum": "less than",
           "multipleOf": "a multiple of", "uniqueItems": "unique items"}
_FORMATS = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"},
            "number": {"float", "double"}}
_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}
_MAX_DEPTH = 32


def to_gemini(schema: Any) -> dict[str, Any] | None:
    """The Gemini form of a tool's input schema; None when it declares no parameters."""
    if not isinstance(schema, dict):
        return None
    defs = {**_as_dict(schema.get("definitions")), **_as_dict(schema.get("$defs"))}
    out = _convert(schema, defs, (), 0)
    if out.get("type") == "OBJECT" and not out.get("properties"):
        return None
    return out


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _resolve(ref: str, defs: dict[str, Any]) -> tuple[str, Any]:
    name = ref.rsplit("/", 1)[-1]
    return name, defs.get(name)


def _convert(node: Any, defs: dict[str, Any], seen: tuple[str, ...], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return {"type": "OBJECT"} if depth > _MAX_DEPTH else {}
    if isinstance(node.get("$ref"), str):
        name, target = _resolve(node["$ref"], defs)
        if target is None or name in seen:
            return {"type": "OBJECT", "description": f"(recursive {name})" if name in seen else "object"}
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs, (*seen, name), depth + 1)
    node = _merge_all_of(node)
    out: dict[str, Any] = {}
    notes: list[str] = []
    nullable = False
    kind = node.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        rest = [t for t in kind if t != "null" and t in _TYPES]
        if len(rest) > 1:
            out["anyOf"] = [{"type": t.upper()} for t in rest]
            kind = None
        else:
            kind = rest[0] if rest else None
    if isinstance(kind, str) and kind in _TYPES and kind != "null":
        out["type"] = kind.upper()
    elif kind == "null":
        nullable = True
    variants = node.get("anyOf") if isinstance(node.get("anyOf"), list) else node.get("oneOf")
    if isinstance(variants, list):
        real = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        nullable = nullable or len(real) < len(variants)
        converted = [_convert(v, defs, seen, depth + 1) for v in real]
        if len(converted) == 1 and "type" not in out:
            out.update({k: v for k, v in converted[0].items() if k not in out})
        elif converted:
            out["anyOf"] = converted
    if "const" in node:
        out["enum"] = [node["const"]]
        out.setdefault("type", _type_of(node["const"]))
    for key, value in node.items():
        if key in ("type", "anyOf", "oneOf", "allOf", "const", "$ref") or key in _DROPPED:
            continue
        if key in _FOLDED:
            notes.append(f"{_FOLDED[key]} {json.dumps(value)}" if key != "uniqueItems" else _FOLDED[key])
            if key == "exclusiveMinimum" and isinstance(value, (int, float)) and "minimum" not in node:
                out["minimum"] = value
            if key == "exclusiveMaximum" and isinstance(value, (int, float)) and "maximum" not in node:
                out["maximum"] = value
            continue
        if key not in _KEPT:
            notes.append(f"{key}: {json.dumps(value, ensure_ascii=False)[:200]}")
            continue
        if key == "properties" and isinstance(value, dict):
            props = {name: _convert(sub, defs, seen, depth + 1) for name, sub in value.items()}
            if props:
                out["properties"] = props
        elif key == "items":
            out["items"] = _convert(value, defs, seen, depth + 1) if isinstance(value, dict) else {}
        elif key == "enum" and isinstance(value, list):
            out["enum"] = [v if isinstance(v, str) else json.dumps(v) for v in value if v is not None]
            nullable = nullable or None in value
            out["type"] = "STRING"
        elif key == "format":
            if value in _FORMATS.get(str(kind), ()):
                out["format"] = value
            else:
                notes.append(f"format: {value}")
        elif key == "required" and isinstance(value, list):
            continue  # filtered against the converted properties below
        elif key in ("description", "title") and not isinstance(value, str):
            continue
        else:
            out[key] = value
    required = node.get("required")
    if isinstance(required, list) and "properties" in out:
        kept = [r for r in required if isinstance(r, str) and r in out["properties"]]
        if kept:
            out["required"] = kept
    if nullable:
        out["nullable"] = True
    if "type" not in out and "anyOf" not in out:
        out["type"] = "OBJECT" if "properties" in out else "STRING" if "enum" in out else "OBJECT"
    if out.get("type") == "ARRAY" and "items" not in out:
        out["items"] = {"type": "STRING"}
    if notes:
        base = out.get("description", "")
        out["description"] = (base + " " if base else "") + "(" + "; ".join(notes) + ")"
    return out


def _merge_all_of(node: dict[str, Any]) -> dict[str, Any]:
    parts = node.get("allOf")
    if not isinstance(parts, list):
        return node
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**_as_dict(merged.get("properties")), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            else:
                merged.setdefault(key, value)
    return merged


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "NUMBER"
    return "STRING"
