"""The 400s Google's request parser gives, so a translator that leaks a field is caught here.

Only what the API checks before the model runs: unknown field names (the proto-JSON message
"Unknown name … Cannot find field."), roles other than user/model, missing contents and empty
parts. Field names may be camelCase or snake_case, as the real parser allows.
"""

from __future__ import annotations

import re
from typing import Any

from . import errors

_REQUEST = {"contents", "systemInstruction", "tools", "toolConfig", "safetySettings",
            "generationConfig", "cachedContent", "model", "labels", "serviceTier"}
_CONTENT = {"role", "parts"}
_PART = {"text", "thought", "thoughtSignature", "inlineData", "fileData", "functionCall",
         "functionResponse", "executableCode", "codeExecutionResult", "videoMetadata",
         "partMetadata", "mediaResolution", "toolCall", "toolResponse"}
_CAMEL = re.compile(r"_([a-z0-9])")


def check(request: Any, kind: str = "GenerateContentRequest") -> errors.Error | None:
    """The error the API would answer for this request body, or None."""
    if not isinstance(request, dict):
        return errors.bad_request("Invalid JSON payload received. Expected an object.")
    unknown = _unknown(request, _REQUEST, "")
    if unknown:
        return unknown
    contents = request.get("contents")
    if not contents:
        return errors.status_error(400, f"* {kind}.contents: contents is not specified\n")
    if not isinstance(contents, list):
        return errors.bad_request("Invalid JSON payload received. Expected a list for 'contents'.",
                                  "contents")
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            return errors.bad_request(f"Invalid JSON payload received. Expected an object at "
                                      f"'{where}'.", where)
        unknown = _unknown(content, _CONTENT, where)
        if unknown:
            return unknown
        if content.get("role", "user") not in ("user", "model"):
            return errors.status_error(400, "Please use a valid role: user, model.")
        parts = content.get("parts")
        if not parts or not isinstance(parts, list):
            return errors.status_error(
                400, f"* {kind}.{where}.parts: contents.parts must not be empty.\n")
        for j, part in enumerate(parts):
            unknown = _unknown(part, _PART, f"{where}.parts[{j}]") if isinstance(part, dict) \
                else None
            if unknown:
                return unknown
    return None


def _unknown(obj: dict[str, Any], known: set[str], where: str) -> errors.Error | None:
    for name in obj:
        if _CAMEL.sub(lambda m: m.group(1).upper(), name) not in known:
            at = f" at '{where}'" if where else ""
            message = (f'Invalid JSON payload received. Unknown name "{name}"{at}: '
                       "Cannot find field.")
            return errors.bad_request(message, where or None)
    return None
