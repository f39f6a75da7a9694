"""OpenAI Responses request → hub request (a Gemini GenerateContentRequest).

The Responses API carries a whole conversation as typed items: messages, function calls and
their outputs, custom (freeform) tool calls, local shell calls, and reasoning. Items of the
assistant side become one model turn, items of the client side one user turn. A tool output must
answer a call the conversation made (here or in the stored history `previous_response_id`
names), because Gemini pairs `functionResponse` with its `functionCall` by name.

Tools arrive in four shapes Gemini knows as one (`functionDeclarations`): plain functions,
custom freeform tools (one string argument `input`), functions inside a `namespace` (declared as
`namespace.name`) and `local_shell` (declared as `local_shell`). `ToolNames` keeps which is
which so the stream translator can answer each call in the item type the client declared.

Thought signatures travel in a reasoning item's `encrypted_content` (see `signatures_blob`), so
a stateless client such as Codex (`store: false`, full history each turn) hands them back.
Pure: the endpoint fetches remote image URLs first and passes them in `fetched`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from addon.models import family_of
from addon.protocols import openai_fields as fields
from addon.protocols.openai_fields import bad, want

ROLES = ("user", "assistant", "system", "developer")
LOCAL_SHELL = "local_shell"
BLOB_PREFIX = "interlock.sig.v1."
SUMMARIES = ("auto", "concise", "detailed")
INCLUDABLE = ("reasoning.encrypted_content", "message.output_text.logprobs", "web_search_call.action.sources",
              "web_search_call.results", "code_interpreter_call.outputs", "computer_call_output.output.image_url",
              "file_search_call.results", "message.input_image.image_url")
_CUSTOM_PARAMETERS = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}
_SHELL_PARAMETERS = {"type": "object", "properties": {
    "command": {"type": "array", "items": {"type": "string"}, "description": "the program and its arguments"},
    "workdir": {"type": "string"}, "timeout_ms": {"type": "integer"}}, "required": ["command"]}
_SEARCH_TOOLS = ("web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11")
_ECHOED = ("instructions", "max_output_tokens", "metadata", "parallel_tool_calls", "previous_response_id",
           "prompt_cache_key", "safety_identifier", "service_tier", "store", "temperature", "top_p", "truncation",
           "user", "tool_choice", "tools", "text", "reasoning", "max_tool_calls", "top_logprobs", "background")


@dataclass
class ToolNames:
    """Gemini function name → how the client declared it: `function`, `custom` or `local_shell`,
    and the namespace a namespaced function belongs to."""

    kinds: dict[str, str] = field(default_factory=dict)
    namespaces: dict[str, tuple[str, str]] = field(default_factory=dict)  # hub name → (namespace, name)

    def hub_name(self, name: str, namespace: str | None = None) -> str:
        return f"{namespace}.{name}" if namespace else name


@dataclass
class Prior:
    """What a stored response hands its successor: the system parts its input gave and the whole
    conversation so far, in hub form (signatures and call ids included)."""

    system: list[dict] = field(default_factory=list)
    contents: list[dict] = field(default_factory=list)


@dataclass
class ResponsesRequest:
    body: dict
    model: str
    stream: bool
    tools: ToolNames
    single_call: bool
    encrypted: bool
    echo: dict
    conversation: Prior
    """The conversation including this request's input, for `store` to keep."""


def _check_options(doc: dict) -> None:
    for name in ("stream", "store", "background", "parallel_tool_calls"):
        if doc.get(name) is not None:
            want(doc[name], bool, name, "a boolean")
    if doc.get("background") is True:
        raise bad("background", "'background' responses are not supported by this gateway; send background: false.")
    for name in ("instructions", "prompt_cache_key", "previous_response_id", "user", "safety_identifier",
                 "service_tier", "truncation"):
        if doc.get(name) is not None:
            want(doc[name], str, name, "a string")
    meta = doc.get("metadata")
    if meta is not None:
        want(meta, dict, "metadata", "an object")
        if len(meta) > 16 or any(not isinstance(v, str) or len(k) > 64 or len(v) > 512 for k, v in meta.items()):
            raise bad("metadata", "Invalid 'metadata': at most 16 string values, keys ≤ 64 and values ≤ 512 characters.")
    include = doc.get("include")
    if include is not None:
        want(include, list, "include", "an array of strings")
        for k, value in enumerate(include):
            if value not in INCLUDABLE:
                raise bad(f"include[{k}]", f"Invalid value for 'include[{k}]': {value!r}; supported values are "
                          + ", ".join(INCLUDABLE) + ".")


def to_hub(doc: dict, upstream_model: str, prior: Prior | None = None,
           fetched: Mapping[str, tuple[str, str]] | None = None,
           call_signature: Callable[[str], str | None] | None = None) -> ResponsesRequest:
    """The hub request for a Responses request; `prior` is the stored conversation it continues,
    `call_signature` finds the signature the upstream gave a call the client echoes without one."""
    model = doc.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("model", "'model' is required: a non-empty string.")
    _check_options(doc)
    prior = prior or Prior()
    names = ToolNames()
    tools = _tools(doc.get("tools"), names)
    system, contents = list(prior.system), [dict(c, parts=list(c["parts"])) for c in prior.contents]
    raw = doc.get("input")
    if raw is None:
        raise bad("input", "'input' is required: a string or an array of input items.")
    own_system = _items(raw, upstream_model, names, contents, fetched or {}, call_signature or (lambda _: None))
    system += own_system
    conversation = Prior(system, [dict(c, parts=list(c["parts"])) for c in contents])
    if not contents:
        raise bad("input", "'input' must hold at least one user message or tool output.")
    hub: dict[str, Any] = {"contents": contents}
    instructions = [{"text": doc["instructions"]}] if doc.get("instructions") else []
    if instructions or system:
        hub["systemInstruction"] = {"parts": instructions + system}
    if tools:
        hub["tools"] = tools
    choice = _tool_choice(doc.get("tool_choice"), names)
    if choice:
        hub["toolConfig"] = {"functionCallingConfig": choice}
    config = _generation_config(doc, upstream_model)
    if config:
        hub["generationConfig"] = config
    echo = {k: doc[k] for k in _ECHOED if k in doc}
    return ResponsesRequest(hub, model, bool(doc.get("stream")), names,
                            single_call=doc.get("parallel_tool_calls") is False,
                            encrypted="reasoning.encrypted_content" in (doc.get("include") or ()),
                            echo=echo, conversation=conversation)


# -- input items -------------------------------------------------------------------------------

def _items(raw: Any, upstream_model: str, names: ToolNames, contents: list[dict],
           fetched: Mapping[str, tuple[str, str]], call_signature: Callable[[str], str | None]) -> list[dict]:
    """Append the input's turns to `contents`; return the system parts its system/developer messages give."""
    if isinstance(raw, str):
        fields.append(contents, "user", [{"text": raw}] if raw else [])
        return []
    want(raw, list, "input", "a string or an array of input items")
    system: list[dict] = []
    calls = _known_calls(contents)
    for i, item in enumerate(raw):
        at = f"input[{i}]"
        want(item, dict, at, "an object")
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ROLES:
                raise bad(f"{at}.role", f"Invalid value for '{at}.role': {role!r}; expected one of {', '.join(ROLES)}.")
            if role in ("system", "developer"):
                system += _parts(item.get("content"), f"{at}.content", ("input_text",), fetched)
            elif role == "user":
                fields.append(contents, "user", _parts(item.get("content"), f"{at}.content",
                                                       ("input_text", "input_image", "input_file"), fetched))
            else:
                fields.append(contents, "model", _parts(item.get("content"), f"{at}.content",
                                                        ("output_text", "refusal", "input_text"), fetched))
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            call_id, name, args = _call(item, kind, at, names)
            calls[call_id] = name
            part: dict[str, Any] = {"functionCall": {"name": name, "args": args, "id": call_id}}
            if signature := call_signature(call_id):
                part["thoughtSignature"] = signature
            fields.append(contents, "model", [part])
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            key = "call_id" if kind != "local_shell_call_output" or "call_id" in item else "id"
            call_id = want(item.get(key), str, f"{at}.{key}", "a string")
            if call_id not in calls:
                raise bad(f"{at}.{key}", f"Invalid '{at}.{key}': no tool call with call_id {call_id!r} was found "
                          "in the conversation; a tool output must answer an earlier call.")
            output = _output_text(item.get("output"), f"{at}.output")
            fields.append(contents, "user", [{"functionResponse": {"name": calls[call_id], "id": call_id,
                                                                   "response": {"output": output}}}])
        elif kind == "reasoning":
            blob = _read_blob(item.get("encrypted_content"), f"{at}.encrypted_content", upstream_model)
            summary = item.get("summary")
            if summary is not None:
                want(summary, list, f"{at}.summary", "an array")
            if blob is not None:
                text = "".join(s.get("text", "") for s in summary or () if isinstance(s, dict))
                fields.append(contents, "model", [{"_signatures": blob, "_thought": text}])
        elif kind in ("web_search_call", "item_reference"):
            if kind == "item_reference":
                raise bad(f"{at}.type", f"'{at}': item references are not supported; send the item itself, or "
                          "continue a stored response with previous_response_id.")
        else:
            raise bad(f"{at}.type", f"Invalid value for '{at}.type': {kind!r} is not an input item type this "
                      "gateway supports (message, function_call, function_call_output, custom_tool_call, "
                      "custom_tool_call_output, local_shell_call, local_shell_call_output, reasoning).")
    for content in contents:
        if content["role"] == "model":
            content["parts"] = _place_signatures(content["parts"], family_of(upstream_model))
    contents[:] = [c for c in contents if c["parts"]]
    return system


def _known_calls(contents: list[dict]) -> dict[str, str]:
    """call_id → function name for every call the stored conversation made."""
    calls: dict[str, str] = {}
    for content in contents:
        for part in content["parts"]:
            call = part.get("functionCall")
            if isinstance(call, dict) and call.get("id"):
                calls[call["id"]] = call["name"]
    return calls


def _parts(content: Any, at: str, allowed: tuple[str, ...], fetched: Mapping[str, tuple[str, str]]) -> list[dict]:
    if content is None:
        raise bad(at, f"'{at}' is required.")
    if isinstance(content, str):
        return [{"text": content}] if content else []
    want(content, list, at, "a string or an array of content parts")
    parts: list[dict] = []
    for j, part in enumerate(content):
        where = f"{at}[{j}]"
        want(part, dict, where, "an object")
        kind = part.get("type")
        if kind not in allowed:
            raise bad(f"{where}.type", f"Invalid value for '{where}.type': {kind!r}; expected "
                      f"{' or '.join(repr(a) for a in allowed)} here.")
        if kind == "input_image":
            url = part.get("image_url")
            if url is None:
                raise bad(f"{where}.image_url", f"'{where}.image_url' is required (file ids are not supported).")
            parts.append(fields.image_url_part(want(url, str, f"{where}.image_url", "a string"),
                                               f"{where}.image_url", fetched))
        elif kind == "input_file":
            data = part.get("file_data")
            if data is None:
                raise bad(f"{where}.file_data", f"'{where}.file_data' is required: a base64 data URL "
                          "(file ids and file URLs are not supported).")
            parts.append({"inlineData": fields.data_url(want(data, str, f"{where}.file_data", "a data URL"),
                                                        f"{where}.file_data", "application/pdf")})
        else:
            key = "refusal" if kind == "refusal" else "text"
            text = want(part.get(key), str, f"{where}.{key}", "a string")
            if text:
                parts.append({"text": text})
    return parts


def _call(item: dict, kind: str, at: str, names: ToolNames) -> tuple[str, str, dict]:
    call_id = want(item.get("call_id"), str, f"{at}.call_id", "a string")
    if kind == "local_shell_call":
        action = want(item.get("action"), dict, f"{at}.action", "an object")
        command = want(action.get("command"), list, f"{at}.action.command", "an array of strings")
        args: dict[str, Any] = {"command": command}
        if isinstance(action.get("working_directory"), str):
            args["workdir"] = action["working_directory"]
        if isinstance(action.get("timeout_ms"), int):
            args["timeout_ms"] = action["timeout_ms"]
        return call_id, LOCAL_SHELL, args
    name = want(item.get("name"), str, f"{at}.name", "a string")
    namespace = item.get("namespace")
    if namespace is not None:
        want(namespace, str, f"{at}.namespace", "a string")
    hub_name = names.hub_name(name, namespace)
    if kind == "custom_tool_call":
        return call_id, hub_name, {"input": want(item.get("input"), str, f"{at}.input", "a string")}
    return call_id, hub_name, fields.arguments(item.get("arguments"), f"{at}.arguments")


def _output_text(output: Any, at: str) -> str:
    if isinstance(output, str):
        return output
    want(output, list, at, "a string or an array of content parts")
    texts = []
    for j, part in enumerate(output):
        want(part, dict, f"{at}[{j}]", "an object")
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "".join(texts)


# -- thought signatures in encrypted_content ---------------------------------------------------

def signatures_blob(model: str, entries: list[dict]) -> str:
    """`encrypted_content` for a reasoning item: the model family and where each signature sat
    (`{"on": "thought" | "answer" | "call", "call_id"?, "sig"}`). Opaque to the client."""
    doc = {"f": family_of(model), "s": entries}
    return BLOB_PREFIX + base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def _read_blob(value: Any, at: str, upstream_model: str) -> list[dict] | None:
    """The signature entries of an echoed reasoning item, when ours and for this model family.

    Anything else (another server's encrypted content, another family's signatures) is dropped:
    the upstream would refuse a signature it did not issue."""
    if value is None:
        return None
    want(value, str, at, "a string")
    if not value.startswith(BLOB_PREFIX):
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(value[len(BLOB_PREFIX):].encode()))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(doc, dict) or doc.get("f") != family_of(upstream_model) or not isinstance(doc.get("s"), list):
        return None
    return [e for e in doc["s"] if isinstance(e, dict) and isinstance(e.get("sig"), str) and e["sig"]]


def _place_signatures(parts: list[dict], family: str) -> list[dict]:
    """Put each remembered signature back on the part it came with, in this model turn."""
    out: list[dict] = []
    entries: list[dict] = []
    for part in parts:
        if "_signatures" in part:
            for entry in part["_signatures"]:
                if entry.get("on") == "thought" and family == "claude":
                    out.append({"text": part["_thought"] or " ", "thought": True, "thoughtSignature": entry["sig"]})
                else:
                    entries.append(entry)
        else:
            out.append(part)
    for entry in entries:
        target = None
        if entry.get("on") == "call":
            target = next((p for p in out if p.get("functionCall", {}).get("id") == entry.get("call_id")), None)
        if target is None:
            target = next((p for p in out if not p.get("thought") and "thoughtSignature" not in p), None)
        if target is not None and "thoughtSignature" not in target:
            target["thoughtSignature"] = entry["sig"]
    return out


# -- tools -------------------------------------------------------------------------------------

def _tools(tools: Any, names: ToolNames) -> list[dict]:
    if tools is None:
        return []
    want(tools, list, "tools", "an array")
    declarations: list[dict] = []
    search = False
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        want(tool, dict, at, "an object")
        kind = tool.get("type")
        if kind == "namespace":
            space = want(tool.get("name"), str, f"{at}.name", "a string")
            inner = want(tool.get("tools"), list, f"{at}.tools", "an array")
            for j, sub in enumerate(inner):
                want(sub, dict, f"{at}.tools[{j}]", "an object")
                declarations.append(_declare(sub, f"{at}.tools[{j}]", names, space))
        elif kind in ("function", "custom"):
            declarations.append(_declare(tool, at, names, None))
        elif kind == "local_shell":
            names.kinds[LOCAL_SHELL] = LOCAL_SHELL
            declarations.append(fields.function_declaration(LOCAL_SHELL, "Run a command on the user's machine.",
                                                            _SHELL_PARAMETERS, at))
        elif kind in _SEARCH_TOOLS:
            search = True
        else:
            raise bad(f"{at}.type", f"Invalid value for '{at}.type': {kind!r} tools are not supported; use "
                      "'function', 'custom', 'namespace', 'local_shell' or 'web_search'.")
    out: list[dict] = [{"functionDeclarations": declarations}] if declarations else []
    if search and not declarations:
        # Gemini refuses googleSearch next to function declarations on most models; functions win.
        out.append({"googleSearch": {}})
    return out


def _declare(tool: dict, at: str, names: ToolNames, namespace: str | None) -> dict:
    kind = tool.get("type")
    if kind not in ("function", "custom"):
        raise bad(f"{at}.type", f"Invalid value for '{at}.type': {kind!r}; expected 'function' or 'custom'.")
    if kind == "custom":
        name = want(tool.get("name"), str, f"{at}.name", "a string")
        described = tool.get("description") or ""
        fmt = tool.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
            described += f"\nThe input must follow this {fmt.get('syntax', '')} grammar:\n{fmt['definition']}"
        params = {**_CUSTOM_PARAMETERS, "properties": {"input": {"type": "string",
                                                                  "description": "the tool's freeform input"}}}
        declaration = fields.function_declaration(names.hub_name(name, namespace), described.strip() or None,
                                                  params, at, f"{at}.name")
    else:
        declaration = fields.function_declaration(names.hub_name(tool.get("name"), namespace) if isinstance(
            tool.get("name"), str) else tool.get("name"), tool.get("description"), tool.get("parameters"), at)
    hub_name = declaration["name"]
    if hub_name in names.kinds:
        raise bad(f"{at}.name", f"Invalid '{at}.name': the tool name {hub_name!r} is declared twice.")
    names.kinds[hub_name] = kind
    if namespace:
        names.namespaces[hub_name] = (namespace, tool["name"])
    return declaration


def _tool_choice(choice: Any, names: ToolNames) -> dict | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        modes = {"none": "NONE", "auto": "AUTO", "required": "ANY"}
        if choice not in modes:
            raise bad("tool_choice", f"Invalid value for 'tool_choice': {choice!r}; expected 'none', 'auto', "
                      "'required' or a tool object.")
        if choice == "required" and not names.kinds:
            raise bad("tool_choice", "'tool_choice' is 'required' but no tools are declared.")
        return {"mode": modes[choice]} if names.kinds else None
    want(choice, dict, "tool_choice", "a string or an object")
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name = want(choice.get("name"), str, "tool_choice.name", "a string")
        if name not in names.kinds:
            raise bad("tool_choice.name", f"Invalid 'tool_choice': tool {name!r} is not among the declared tools.")
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    if kind == "allowed_tools":
        mode = choice.get("mode", "auto")
        picked = [t.get("name") for t in want(choice.get("tools"), list, "tool_choice.tools", "an array")
                  if isinstance(t, dict) and t.get("type") in ("function", "custom")]
        unknown = [n for n in picked if n not in names.kinds]
        if unknown or mode not in ("auto", "required"):
            raise bad("tool_choice.tools", "Invalid 'tool_choice': mode must be 'auto' or 'required' and every "
                      f"tool must be declared (unknown: {unknown}).")
        return {"mode": "ANY" if mode == "required" else "VALIDATED", "allowedFunctionNames": picked}
    if kind in _SEARCH_TOOLS or kind == LOCAL_SHELL:
        return {"mode": "AUTO"} if names.kinds else None
    raise bad("tool_choice.type", f"Invalid value for 'tool_choice.type': {kind!r}; expected 'function', "
              "'custom' or 'allowed_tools'.")


# -- generation config -------------------------------------------------------------------------

def _generation_config(doc: dict, upstream_model: str) -> dict:
    config: dict[str, Any] = {}
    if (v := fields.number(doc, "temperature", 0, 2)) is not None:
        config["temperature"] = v
    if (v := fields.number(doc, "top_p", 0, 1)) is not None:
        config["topP"] = v
    if (v := fields.integer(doc, "max_output_tokens", 1)) is not None:
        config["maxOutputTokens"] = v
    config.update(_text_format(doc.get("text")))
    reasoning = doc.get("reasoning")
    if reasoning is not None:
        want(reasoning, dict, "reasoning", "an object")
        thinking = fields.thinking_config(reasoning.get("effort"), upstream_model, "reasoning.effort")
        summary = reasoning.get("summary", reasoning.get("generate_summary"))
        if summary is not None and summary not in SUMMARIES:
            raise bad("reasoning.summary", f"Invalid value for 'reasoning.summary': {summary!r}; expected one of "
                      f"{', '.join(SUMMARIES)}.")
        if summary is not None and reasoning.get("effort") != "none":
            thinking = {**(thinking or {}), "includeThoughts": True}
        if thinking is not None:
            config["thinkingConfig"] = thinking
    return config


def _text_format(text: Any) -> dict:
    if text is None:
        return {}
    want(text, dict, "text", "an object")
    fmt = text.get("format")
    if fmt is None:
        return {}
    want(fmt, dict, "text.format", "an object")
    kind = fmt.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        want(fmt.get("name"), str, "text.format.name", "a string")
        body = want(fmt.get("schema"), dict, "text.format.schema", "a JSON Schema object")
        return {"responseMimeType": "application/json", "responseJsonSchema": body}
    raise bad("text.format.type", f"Invalid value for 'text.format.type': {kind!r}; expected 'text', 'json_object' "
              "or 'json_schema'.")


def remote_image_urls(doc: Any) -> dict[str, str]:
    """The `http(s)` image URLs of input messages (URL → its `param`), for the endpoint to fetch."""
    urls: dict[str, str] = {}
    items = doc.get("input") if isinstance(doc, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else ()):
        content = item.get("content") if isinstance(item, dict) else None
        for j, part in enumerate(content if isinstance(content, list) else ()):
            url = part.get("image_url") if isinstance(part, dict) and part.get("type") == "input_image" else None
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                urls.setdefault(url, f"input[{i}].content[{j}].image_url")
    return urls
