"""JSON Schema (as clients write tool parameters) → the OpenAPI subset Gemini's `Schema` accepts.

Gemini rejects a whole request for one keyword it does not know (`additionalProperties`,
`$schema`, `const`…), and it resolves no `$ref`. So references are inlined (a cycle becomes a
plain object), `const` becomes a one-value `enum`, `type: [x, "null"]` becomes `nullable`, and
any other unknown keyword is dropped. Pure and total: any input gives a schema.
"""

from __future__ import annotations

from typing import Any

_KEPT = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
         "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
         "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
_MAX_DEPTH = 32


def sanitize(schema: dict) -> dict:
    """A Gemini-acceptable copy of `schema`; the input is not changed."""
    if not isinstance(schema, dict):
        return {"type": "object"}
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    out = _clean(schema, defs, (), 0)
    if "type" not in out and "anyOf" not in out:
        out["type"] = "object"
    return out


def _resolve(ref: str, defs: dict) -> tuple[str, dict] | None:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            name = ref[len(prefix):]
            target = defs.get(name)
            return (name, target) if isinstance(target, dict) else None
    return None


def _clean(node: Any, defs: dict, seen: tuple[str, ...], depth: int) -> dict:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return {"type": "object"} if not isinstance(node, dict) else {}
    if isinstance(node.get("$ref"), str):
        found = _resolve(node["$ref"], defs)
        if found is None or found[0] in seen:
            return {"type": "object", "description": node.get("description", "")} if found else {"type": "object"}
        merged = {**found[1], **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs, seen + (found[0],), depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if len(kinds) < len(value):
                out["nullable"] = True
            if kinds:
                out["type"] = kinds[0]
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _clean(sub, defs, seen, depth + 1) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out["items"] = _clean(value, defs, seen, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            branches = [b for b in value if not (isinstance(b, dict) and b.get("type") == "null")]
            if len(branches) < len(value):
                out["nullable"] = True
            cleaned = [_clean(b, defs, seen, depth + 1) for b in branches]
            if len(cleaned) == 1:
                out.update({k: v for k, v in cleaned[0].items() if k not in out})
            elif cleaned:
                out["anyOf"] = cleaned
        elif key == "allOf" and isinstance(value, list):
            for branch in value:
                for k, v in _clean(branch, defs, seen, depth + 1).items():
                    if k == "properties":
                        out.setdefault("properties", {}).update(v)
                    elif k == "required":
                        out["required"] = sorted(set(out.get("required", [])) | set(v))
                    else:
                        out.setdefault(k, v)
        elif key == "enum" and isinstance(value, list):
            out["enum"] = [str(v) if not isinstance(v, str) else v for v in value if v is not None]
        elif key == "required" and isinstance(value, list):
            out["required"] = [r for r in value if isinstance(r, str)]
        elif key in _KEPT and key not in out:
            out[key] = value
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    if "enum" in out and out.get("type") not in (None, "string"):
        out["type"] = "string"
    return out
