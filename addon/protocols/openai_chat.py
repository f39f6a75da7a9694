"""OpenAI Chat Completions request → hub request (a Gemini GenerateContentRequest).

Pure: the endpoint fetches `http(s)` image URLs first and passes their bytes in `fetched`; a URL
it did not fetch is sent as `fileData` for the upstream to read. Nothing here reads a local file,
whatever an image URL says. Every refusal is an OpenAI 400 whose `param` names the field
(`messages[2].content[0].type`), because SDKs show `param` to the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addon.protocols import openai_fields as fields

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
               "m4a": "audio/aac", "aac": "audio/aac", "aiff": "audio/aiff", "webm": "audio/webm",
               "pcm16": "audio/pcm"}
_type_name, _bad, _want, _number, _integer = fields.type_name, fields.bad, fields.want, fields.number, fields.integer
_append, _data_url, _arguments = fields.append, fields.data_url, fields.arguments
EFFORT_BUDGET = fields.EFFORT_BUDGET


def remote_image_urls(doc: Any) -> dict[str, str]:
    """The `http(s)` image URLs of user messages (URL → its `param`), for the endpoint to fetch."""
    urls: dict[str, str] = {}
    messages = doc.get("messages") if isinstance(doc, dict) else None
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        content = message.get("content") if isinstance(message, dict) else None
        for j, part in enumerate(content if isinstance(content, list) else ()):
            image = part.get("image_url") if isinstance(part, dict) else None
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                urls.setdefault(url, f"messages[{i}].content[{j}].image_url.url")
    return urls


def to_hub(doc: dict, upstream_model: str, fetched: Mapping[str, tuple[str, str]] | None = None) -> dict:
    """The hub request for a chat request; `fetched` maps image URL → (mimeType, base64 data)."""
    model = doc.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("model", "'model' is required: a non-empty string.")
    messages = doc.get("messages")
    if messages is None:
        raise _bad("messages", "'messages' is required: a list of at least one message.")
    _want(messages, list, "messages", "an array")
    if not messages:
        raise _bad("messages", "'messages' must contain at least one message.")
    system, contents = _messages(messages, fetched or {})
    hub: dict[str, Any] = {"contents": contents}
    if system:
        hub["systemInstruction"] = {"parts": system}
    tools, names = _tools(doc.get("tools"))
    if tools:
        hub["tools"] = tools
    tool_config = _tool_choice(doc.get("tool_choice"), names)
    if tool_config:
        hub["toolConfig"] = {"functionCallingConfig": tool_config}
    config = generation_config(doc, upstream_model)
    if config:
        hub["generationConfig"] = config
    return hub


def _messages(messages: list, fetched: Mapping[str, tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    contents: list[dict] = []
    calls: dict[str, str] = {}  # tool_call id → function name, from earlier assistant turns
    for i, message in enumerate(messages):
        at = f"messages[{i}]"
        _want(message, dict, at, "an object")
        role = message.get("role")
        if role is None:
            raise _bad(f"{at}.role", f"'{at}.role' is required: one of {', '.join(ROLES)}.")
        _want(role, str, f"{at}.role", "a string")
        if role not in ROLES:
            raise _bad(f"{at}.role", f"Invalid value for '{at}.role': '{role}' is not one of {', '.join(ROLES)}.")
        if role in ("system", "developer"):
            system += _text_parts(message.get("content"), f"{at}.content", required=True)
            continue
        if role == "user":
            parts = _user_parts(message.get("content"), f"{at}.content", fetched)
            _append(contents, "user", parts)
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(message, at, calls))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:
                raise _bad(f"{at}.tool_call_id", f"'{at}.tool_call_id' is required on a tool message.")
            _want(call_id, str, f"{at}.tool_call_id", "a string")
            if call_id not in calls:
                raise _bad(f"{at}.tool_call_id", f"Invalid '{at}.tool_call_id': '{call_id}' does not answer "
                           "a tool call of an earlier assistant message.")
            output = "".join(p["text"] for p in _text_parts(message.get("content"), f"{at}.content", required=True))
            _append(contents, "user", [{"functionResponse": {"name": calls[call_id], "id": call_id,
                                                             "response": {"output": output}}}])
        else:  # legacy `function` role: the result of a `function_call`, matched by name
            name = _want(message.get("name"), str, f"{at}.name", "a string")
            output = "".join(p["text"] for p in _text_parts(message.get("content"), f"{at}.content", required=True))
            _append(contents, "user", [{"functionResponse": {"name": name, "response": {"output": output}}}])
    if not contents:
        contents = [{"role": "user", "parts": [{"text": " "}]}]
    return system, contents


def _text_parts(content: Any, at: str, *, required: bool = False, allowed: tuple[str, ...] = ("text",)) -> list[dict]:
    if content is None:
        if required:
            raise _bad(at, f"'{at}' is required.")
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    _want(content, list, at, "a string or an array of content parts")
    parts = []
    for j, part in enumerate(content):
        where = f"{at}[{j}]"
        _want(part, dict, where, "an object")
        kind = part.get("type")
        if kind not in allowed:
            raise _bad(f"{where}.type", f"Invalid value for '{where}.type': {kind!r} is not supported here; "
                       f"expected {' or '.join(repr(a) for a in allowed)}.")
        text = part.get(kind)
        _want(text, str, f"{where}.{kind}", "a string")
        if text:
            parts.append({"text": text})
    return parts


def _user_parts(content: Any, at: str, fetched: Mapping[str, tuple[str, str]]) -> list[dict]:
    if content is None:
        raise _bad(at, f"'{at}' is required.")
    if isinstance(content, str):
        return [{"text": content}] if content else []
    _want(content, list, at, "a string or an array of content parts")
    parts = []
    for j, part in enumerate(content):
        where = f"{at}[{j}]"
        _want(part, dict, where, "an object")
        kind = part.get("type")
        if kind == "text":
            text = _want(part.get("text"), str, f"{where}.text", "a string")
            if text:
                parts.append({"text": text})
        elif kind == "image_url":
            parts.append(_image_part(part.get("image_url"), f"{where}.image_url", fetched))
        elif kind == "input_audio":
            audio = _want(part.get("input_audio"), dict, f"{where}.input_audio", "an object")
            data = _want(audio.get("data"), str, f"{where}.input_audio.data", "a base64 string")
            fmt = _want(audio.get("format"), str, f"{where}.input_audio.format", "a string")
            if fmt not in _AUDIO_MIME:
                raise _bad(f"{where}.input_audio.format", f"Invalid value for '{where}.input_audio.format': "
                           f"{fmt!r}; expected one of {', '.join(_AUDIO_MIME)}.")
            parts.append({"inlineData": {"mimeType": _AUDIO_MIME[fmt], "data": data}})
        elif kind == "file":
            file = _want(part.get("file"), dict, f"{where}.file", "an object")
            data = _want(file.get("file_data"), str, f"{where}.file.file_data", "a data URL")
            parts.append({"inlineData": _data_url(data, f"{where}.file.file_data", "application/pdf")})
        else:
            raise _bad(f"{where}.type", f"Invalid value for '{where}.type': {kind!r}; supported content "
                       "part types are 'text', 'image_url', 'input_audio' and 'file'.")
    return parts


def _image_part(image: Any, at: str, fetched: Mapping[str, tuple[str, str]]) -> dict:
    if isinstance(image, str):  # some clients send the URL itself
        return fields.image_url_part(image, at, fetched)
    _want(image, dict, at, "an object")
    return fields.image_url_part(_want(image.get("url"), str, f"{at}.url", "a string"), f"{at}.url", fetched)


def _assistant_parts(message: dict, at: str, calls: dict[str, str]) -> list[dict]:
    parts: list[dict] = []
    reasoning = message.get("reasoning_content")
    if reasoning is not None:
        _want(reasoning, str, f"{at}.reasoning_content", "a string")
        if reasoning:
            parts.append({"text": reasoning, "thought": True})
    parts += _text_parts(message.get("content"), f"{at}.content", allowed=("text", "refusal"))
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        _want(tool_calls, list, f"{at}.tool_calls", "an array")
        for k, call in enumerate(tool_calls):
            where = f"{at}.tool_calls[{k}]"
            _want(call, dict, where, "an object")
            call_id = _want(call.get("id"), str, f"{where}.id", "a string")
            fn = _want(call.get("function"), dict, f"{where}.function", "an object")
            name = _want(fn.get("name"), str, f"{where}.function.name", "a string")
            calls[call_id] = name
            parts.append({"functionCall": {"name": name, "args": _arguments(fn.get("arguments"),
                                                                            f"{where}.function.arguments"),
                                           "id": call_id}})
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("name"), str):
        parts.append({"functionCall": {"name": legacy["name"],
                                       "args": _arguments(legacy.get("arguments"), f"{at}.function_call.arguments")}})
    return parts


def _tools(tools: Any) -> tuple[list[dict], list[str]]:
    if tools is None:
        return [], []
    _want(tools, list, "tools", "an array")
    declarations, names = [], []
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        _want(tool, dict, at, "an object")
        if tool.get("type", "function") != "function":
            raise _bad(f"{at}.type", f"Invalid value for '{at}.type': {tool.get('type')!r}; only 'function' "
                       "tools are supported.")
        fn = _want(tool.get("function"), dict, f"{at}.function", "an object")
        declaration = fields.function_declaration(fn.get("name"), fn.get("description"), fn.get("parameters"),
                                                  f"{at}.function")
        name = declaration["name"]
        declarations.append(declaration)
        names.append(name)
    return ([{"functionDeclarations": declarations}] if declarations else []), names


def _tool_choice(choice: Any, names: list[str]) -> dict | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        modes = {"none": "NONE", "auto": "AUTO", "required": "ANY"}
        if choice not in modes:
            raise _bad("tool_choice", f"Invalid value for 'tool_choice': {choice!r}; expected 'none', 'auto', "
                       "'required' or a named function.")
        if choice == "required" and not names:
            raise _bad("tool_choice", "'tool_choice' is 'required' but no tools are declared.")
        return {"mode": modes[choice]}
    _want(choice, dict, "tool_choice", "a string or an object")
    if choice.get("type") == "allowed_tools":
        allowed = _want(choice.get("allowed_tools"), dict, "tool_choice.allowed_tools", "an object")
        mode = allowed.get("mode", "auto")
        picked = [t.get("function", {}).get("name") for t in allowed.get("tools") or () if isinstance(t, dict)]
        unknown = [n for n in picked if n not in names]
        if unknown or mode not in ("auto", "required"):
            raise _bad("tool_choice.allowed_tools", "Invalid 'tool_choice.allowed_tools': mode must be 'auto' or "
                       f"'required' and every tool must be declared (unknown: {unknown}).")
        return {"mode": "ANY" if mode == "required" else "VALIDATED", "allowedFunctionNames": picked}
    fn = choice.get("function")
    name = fn.get("name") if isinstance(fn, dict) else None
    if choice.get("type") != "function" or not isinstance(name, str):
        raise _bad("tool_choice", "Invalid 'tool_choice': expected {\"type\": \"function\", \"function\": "
                   "{\"name\": …}}.")
    if name not in names:
        raise _bad("tool_choice.function.name", f"Invalid 'tool_choice': function {name!r} is not among the "
                   "declared tools.")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


def generation_config(doc: dict, upstream_model: str) -> dict:
    """Sampling, length, stop, format and thinking settings; shared with legacy completions."""
    config: dict[str, Any] = {}
    if (v := _number(doc, "temperature", 0, 2)) is not None:
        config["temperature"] = v
    if (v := _number(doc, "top_p", 0, 1)) is not None:
        config["topP"] = v
    limit = _integer(doc, "max_completion_tokens", 1)
    if limit is None:
        limit = _integer(doc, "max_tokens", 1)
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = doc.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        _want(stop, list, "stop", "a string or an array of strings")
        for k, s in enumerate(stop):
            _want(s, str, f"stop[{k}]", "a string")
        if len(stop) > 5:
            raise _bad("stop", "Invalid 'stop': at most 5 sequences.")
        if stop:
            config["stopSequences"] = stop
    if (v := _integer(doc, "n", 1, 8)) is not None and v != 1:
        config["candidateCount"] = v
    if (v := _integer(doc, "seed", -(2**63), 2**63 - 1)) is not None:
        config["seed"] = v
    for name, key in (("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if (v := _number(doc, name, -2, 2)) is not None:
            config[key] = v
    config.update(_response_format(doc.get("response_format")))
    thinking = _thinking(doc.get("reasoning_effort"), upstream_model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _response_format(fmt: Any) -> dict:
    if fmt is None:
        return {}
    _want(fmt, dict, "response_format", "an object")
    kind = fmt.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = _want(fmt.get("json_schema"), dict, "response_format.json_schema", "an object")
        body = spec.get("schema")
        if body is None:
            return {"responseMimeType": "application/json"}
        _want(body, dict, "response_format.json_schema.schema", "a JSON Schema object")
        return {"responseMimeType": "application/json", "responseJsonSchema": body}
    raise _bad("response_format.type", f"Invalid value for 'response_format.type': {kind!r}; expected 'text', "
               "'json_object' or 'json_schema'.")


def _thinking(effort: Any, upstream_model: str) -> dict | None:
    return fields.thinking_config(effort, upstream_model, "reasoning_effort")


def stream_options(doc: dict) -> tuple[bool, bool]:
    """(stream, include_usage), checked."""
    stream = doc.get("stream")
    if stream is not None:
        _want(stream, bool, "stream", "a boolean")
    options = doc.get("stream_options")
    include = False
    if options is not None:
        _want(options, dict, "stream_options", "an object")
        if options.get("include_usage") is not None:
            include = _want(options["include_usage"], bool, "stream_options.include_usage", "a boolean")
    return bool(stream), include


def parallel_tool_calls(doc: dict) -> bool:
    value = doc.get("parallel_tool_calls")
    if value is None:
        return True
    return _want(value, bool, "parallel_tool_calls", "a boolean")
