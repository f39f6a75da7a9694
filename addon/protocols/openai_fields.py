"""Field checks and translations both OpenAI request translators share (Chat and Responses).

Every refusal is an OpenAI 400 whose `param` names the field, because SDKs show `param` to the
user. Nothing here knows which endpoint asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from addon.errors import ClientError
from addon.protocols import schema

EFFORT_BUDGET = {"minimal": 1024, "low": 4096, "medium": 16384, "high": 24576, "xhigh": 32768}
"""reasoning effort → Gemini thinkingBudget; `none` turns thinking off (or to the minimum)."""
DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.S)
IMAGE_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
              "gif": "image/gif", "heic": "image/heic", "heif": "image/heif"}
FUNCTION_NAME = re.compile(r"[A-Za-z_][\w.:-]{0,127}")


def type_name(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def bad(param: str, message: str) -> ClientError:
    return ClientError(message, param=param)


def want(value: Any, kind: type | tuple[type, ...], param: str, what: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise bad(param, f"Invalid type for '{param}': expected {what}, but got {type_name(value)} instead.")
    return value


def number(doc: dict, name: str, lo: float, hi: float) -> float | None:
    if doc.get(name) is None:
        return None
    value = want(doc[name], (int, float), name, "a number")
    if not lo <= value <= hi:
        raise bad(name, f"Invalid '{name}': {value} is not between {lo:g} and {hi:g}.")
    return value


def integer(doc: dict, name: str, lo: int, hi: int | None = None) -> int | None:
    if doc.get(name) is None:
        return None
    value = want(doc[name], int, name, "an integer")
    if value < lo or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise bad(name, f"Invalid '{name}': {value} must be {bound}.")
    return value


def append(contents: list[dict], role: str, parts: list[dict]) -> None:
    """Consecutive turns of one role become one Content, as Gemini expects turns to alternate."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"] += parts
    else:
        contents.append({"role": role, "parts": parts})


def data_url(url: str, at: str, default_mime: str) -> dict:
    m = DATA_URL.match(url)
    if not m:
        raise bad(at, f"Invalid '{at}': a data URL must look like 'data:<mime type>;base64,<data>'.")
    return {"mimeType": m["mime"] or default_mime, "data": m["data"]}


def image_url_part(url: str, at: str, fetched: Mapping[str, tuple[str, str]]) -> dict:
    """A data URL inline; a fetched http(s) URL inline; any other http(s) URL as fileData."""
    if url.startswith("data:"):
        return {"inlineData": data_url(url, at, "image/png")}
    if url.startswith(("http://", "https://")):
        if url in fetched:
            mime, data = fetched[url]
            return {"inlineData": {"mimeType": mime, "data": data}}
        ext = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        return {"fileData": {"mimeType": IMAGE_MIME.get(ext, "image/jpeg"), "fileUri": url}}
    raise bad(at, f"Invalid '{at}': expected an http(s) URL or a base64 data URL.")


def arguments(raw: Any, at: str) -> dict:
    """Arguments as an object. History may hold a model's malformed output; it is kept, wrapped."""
    if raw is None or raw == "":
        return {}
    want(raw, str, at, "a string of JSON")
    try:
        value = json.loads(raw)
    except ValueError:
        return {"arguments": raw}
    return value if isinstance(value, dict) else {"arguments": value}


def function_declaration(name: Any, description: Any, parameters: Any, at: str, name_at: str | None = None) -> dict:
    """One Gemini functionDeclaration from an OpenAI function's name, description and JSON Schema."""
    name_at = name_at or f"{at}.name"
    want(name, str, name_at, "a string")
    if not FUNCTION_NAME.fullmatch(name):
        raise bad(name_at, f"Invalid '{name_at}': {name!r} must start with a letter or underscore and hold only "
                  "letters, digits, '_', '.', ':' or '-' (at most 128).")
    declaration: dict[str, Any] = {"name": name}
    if description is not None:
        declaration["description"] = want(description, str, f"{at}.description", "a string")
    if parameters is not None:
        want(parameters, dict, f"{at}.parameters", "a JSON Schema object")
        if (cleaned := schema.to_gemini(parameters)) is not None:
            declaration["parameters"] = cleaned
    return declaration


def thinking_config(effort: Any, upstream_model: str, param: str) -> dict | None:
    """A reasoning effort → Gemini thinkingConfig (None: the model's default)."""
    if effort is None:
        return None
    want(effort, str, param, "a string")
    if effort == "none":
        # Gemini Pro models cannot turn thinking off; 128 is their smallest budget.
        return {"thinkingBudget": 128 if "pro" in upstream_model else 0}
    if effort not in EFFORT_BUDGET:
        raise bad(param, f"Invalid value for '{param}': {effort!r}; expected one of none, {', '.join(EFFORT_BUDGET)}.")
    return {"includeThoughts": True, "thinkingBudget": EFFORT_BUDGET[effort]}
