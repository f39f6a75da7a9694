"""Anthropic Messages request → hub request (Gemini GenerateContentRequest). Pure.

Validation first, so a client hears "messages.1.content.0.type: …" instead of an upstream 400
after a round trip. Then the translation: system text (string, blocks, and `role:"system"`
entries anywhere in `messages`) becomes `systemInstruction`; blocks become parts; tool_use and
tool_result keep their ids and tool results get their function's name; thinking survives only
when its signature is one the upstream issued to this model family (signatures.py); adjacent
same-role turns are merged and unanswered tool calls get a synthetic result so the upstream never
sees a turn order it rejects. `cache_control`, `context_management` and other Anthropic-only
fields are not carried over: the hub is built from known fields only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from addon.errors import ClientError
from addon.models import family_of
from addon.protocols import schema
from addon.protocols.signatures import SignatureCache

ROLES = ("user", "assistant", "system")
BLOCK_TYPES = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking",
                         "redacted_thinking", "search_result"})
SERVER_BLOCK_TYPES = frozenset({"server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
                                "code_execution_tool_result", "bash_code_execution_tool_result",
                                "text_editor_code_execution_tool_result", "mcp_tool_use",
                                "mcp_tool_result", "container_upload", "tool_search_tool_result"})
"""Results of Anthropic-hosted tools: meaningless to another upstream, dropped."""
BILLING_HEADER = "x-anthropic-billing-header:"
INTERRUPTED = "Tool execution interrupted. No result provided."
MAX_STOP_SEQUENCES = 5
_EFFORT_BUDGET = {"low": 2048, "medium": 8192, "high": 24576, "max": 32768}
_WEB_SEARCH_NAMES = frozenset({"web_search", "google_search"})


@dataclass
class HubRequest:
    """What the endpoint needs besides the hub body."""

    body: dict
    model: str
    stream: bool
    thinking: bool


def _fail(where: str, message: str) -> ClientError:
    return ClientError(f"{where}: {message}" if where else message, param=where or None)


def _type_name(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(v), type(v).__name__)


def _want(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
        raise _fail(where, f"Input should be {what}, got {_type_name(value)}")
    return value


def check(doc: dict, *, counting: bool = False) -> None:
    """Raise a 400 naming the first field Anthropic's own API would refuse."""
    if "model" not in doc:
        raise _fail("model", "Field required")
    _want(doc["model"], str, "model", "a string")
    if "messages" not in doc:
        raise _fail("messages", "Field required")
    messages = _want(doc["messages"], list, "messages", "a list of messages")
    if not counting:
        if "max_tokens" not in doc:
            raise _fail("max_tokens", "Field required")
        _want(doc["max_tokens"], int, "max_tokens", "an integer")
        if doc["max_tokens"] < 1:
            raise _fail("max_tokens", "Input should be greater than or equal to 1")
    for key, kind, what in (("stream", bool, "a boolean"), ("temperature", (int, float), "a number"),
                            ("top_p", (int, float), "a number"), ("top_k", int, "an integer"),
                            ("stop_sequences", list, "a list of strings"), ("tools", list, "a list of tools"),
                            ("metadata", dict, "an object"), ("thinking", dict, "an object"),
                            ("tool_choice", dict, "an object"), ("output_config", dict, "an object")):
        if doc.get(key) is not None:
            _want(doc[key], kind, key, what)
    system = doc.get("system")
    if system is not None and not isinstance(system, str):
        _check_blocks(_want(system, list, "system", "a string or a list of text blocks"), "system", "system")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        _want(message, dict, where, "an object")
        role = message.get("role")
        if role not in ROLES:
            raise _fail(f"{where}.role", f"Input should be 'user' or 'assistant', got {role!r}")
        if "content" not in message:
            raise _fail(f"{where}.content", "Field required")
        content = message["content"]
        if not isinstance(content, str):
            _check_blocks(_want(content, list, f"{where}.content", "a string or a list of content blocks"),
                          f"{where}.content", role)
    for i, seq in enumerate(doc.get("stop_sequences") or ()):
        _want(seq, str, f"stop_sequences.{i}", "a string")
    for i, tool in enumerate(doc.get("tools") or ()):
        _want(tool, dict, f"tools.{i}", "an object")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _fail(f"tools.{i}.name", "Field required")
    thinking = doc.get("thinking")
    if thinking is not None and thinking.get("type") not in ("enabled", "adaptive", "disabled"):
        raise _fail("thinking.type", f"Input should be 'enabled', 'adaptive' or 'disabled', got {thinking.get('type')!r}")
    if thinking is not None and thinking.get("type") == "enabled" and "budget_tokens" in thinking:
        _want(thinking["budget_tokens"], int, "thinking.budget_tokens", "an integer")
    choice = doc.get("tool_choice")
    if choice is not None:
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise _fail("tool_choice.type", f"Input should be 'auto', 'any', 'tool' or 'none', got {choice.get('type')!r}")
        if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
            raise _fail("tool_choice.name", "Field required")
    fmt = _format_of(doc)
    if fmt is not None:
        where = "output_config.format" if isinstance((doc.get("output_config") or {}).get("format"), dict) else "output_format"
        if fmt.get("type") != "json_schema":
            raise _fail(f"{where}.type", f"Input should be 'json_schema', got {fmt.get('type')!r}")
        _want(fmt.get("schema"), dict, f"{where}.schema", "a JSON schema object")


def _check_blocks(blocks: list, where: str, role: str) -> None:
    for j, block in enumerate(blocks):
        at = f"{where}.{j}"
        _want(block, dict, at, "a content block object")
        kind = block.get("type")
        if role == "system" and kind != "text":
            raise _fail(f"{at}.type", f"system content blocks must be 'text', got {kind!r}")
        if kind not in BLOCK_TYPES and kind not in SERVER_BLOCK_TYPES:
            raise _fail(f"{at}.type", f"Input tag {kind!r} found using 'type' does not match any of the "
                        f"expected tags: {', '.join(sorted(BLOCK_TYPES))}")
        if kind == "text":
            _want(block.get("text"), str, f"{at}.text", "a string")
        elif kind in ("image", "document"):
            _check_source(block.get("source"), f"{at}.source", kind)
        elif kind == "tool_use":
            _want(block.get("id"), str, f"{at}.id", "a string")
            _want(block.get("name"), str, f"{at}.name", "a string")
            _want(block.get("input", {}), dict, f"{at}.input", "an object")
            if role != "assistant":
                raise _fail(f"{at}.type", "tool_use blocks belong in assistant messages")
        elif kind == "tool_result":
            _want(block.get("tool_use_id"), str, f"{at}.tool_use_id", "a string")
            content = block.get("content")
            if content is not None and not isinstance(content, str):
                _check_blocks(_want(content, list, f"{at}.content", "a string or a list of blocks"),
                              f"{at}.content", "tool")
            if role != "user":
                raise _fail(f"{at}.type", "tool_result blocks belong in user messages")
        elif kind == "thinking":
            _want(block.get("thinking"), str, f"{at}.thinking", "a string")
        elif kind == "redacted_thinking":
            _want(block.get("data"), str, f"{at}.data", "a string")


def _check_source(source: Any, where: str, kind: str) -> None:
    _want(source, dict, where, "an object")
    stype = source.get("type")
    if stype == "base64":
        _want(source.get("media_type"), str, f"{where}.media_type", "a string")
        _want(source.get("data"), str, f"{where}.data", "a base64 string")
    elif stype == "text" and kind == "document":
        _want(source.get("data"), str, f"{where}.data", "a string")
    elif stype == "content" and kind == "document":
        content = source.get("content")
        if not isinstance(content, str):
            _check_blocks(_want(content, list, f"{where}.content", "a string or a list of blocks"),
                          f"{where}.content", "document")
    elif stype in ("url", "file"):
        raise _fail(f"{where}.type", f"{kind} sources of type {stype!r} cannot be forwarded to the "
                    "upstream; send the data inline with type 'base64'")
    else:
        raise _fail(f"{where}.type", f"Input should be 'base64'{', text or content' if kind == 'document' else ''}, "
                    f"got {stype!r}")


def _format_of(doc: dict) -> dict | None:
    fmt = (doc.get("output_config") or {}).get("format")
    if fmt is None:
        fmt = doc.get("output_format")
    if fmt is None:
        return None
    return _want(fmt, dict, "output_config.format", "an object")


# ---------------------------------------------------------------------------------------------


def _blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def _text_of(content: Any) -> str:
    return "\n".join(b["text"] for b in _blocks(content) if b.get("type") == "text" and b.get("text"))


def _media_part(source: dict) -> dict:
    return {"inlineData": {"mimeType": source["media_type"], "data": source["data"]}}


def _content_parts(block: dict) -> list[dict]:
    """Parts for a user-visible block (text, image, document, search result)."""
    kind = block.get("type")
    if kind == "text":
        return [{"text": block["text"]}] if block["text"].strip() else []
    if kind == "image":
        return [_media_part(block["source"])]
    if kind == "document":
        source = block["source"]
        title = block.get("title")
        head = [{"text": f"Document: {title}"}] if isinstance(title, str) and title else []
        if source["type"] == "base64":
            return head + [_media_part(source)]
        if source["type"] == "text":
            return head + [{"text": source["data"]}] if source["data"] else head
        return head + [p for b in _blocks(source["content"]) for p in _content_parts(b)]
    if kind == "search_result":
        text = _text_of(block.get("content") or [])
        return [{"text": f"{block.get('title', '')}\n{block.get('source', '')}\n{text}".strip()}]
    return []


def _tool_output(block: dict) -> tuple[str, list[dict]]:
    """A tool_result's text (joined) and its media as extra parts."""
    content = block.get("content")
    if content is None:
        return "", []
    texts, media = [], []
    for inner in _blocks(content):
        if inner.get("type") == "text":
            texts.append(inner["text"])
        else:
            media += _content_parts(inner)
    return "\n".join(texts), media


class _Translator:
    def __init__(self, doc: dict, target: str, signatures: SignatureCache, thinks: bool,
                 output_limit: int | None, counting: bool) -> None:
        self.doc = doc
        self.target = target
        self.family = family_of(target)
        self.claude = self.family == "claude"
        self.signatures = signatures
        self.thinks = thinks
        self.output_limit = output_limit
        self.counting = counting
        self.names: dict[str, str] = {}

    def run(self) -> HubRequest:
        doc = self.doc
        system = self._system_texts()
        turns = self._turns()
        self.thinking, thinking_config = self._thinking_config(turns)
        contents = self._contents(turns)
        if not contents:
            raise _fail("messages", "at least one user or assistant message with content is required")
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"role": "user", "parts": [{"text": t} for t in system]}
        tools, choice = self._tools()
        if tools:
            body["tools"] = tools
            if choice:
                body["toolConfig"] = {"functionCallingConfig": choice}
        config = self._generation_config(thinking_config)
        if config:
            body["generationConfig"] = config
        return HubRequest(body, doc["model"], bool(doc.get("stream")), self.thinking)

    # -- system ------------------------------------------------------------------------------

    def _system_texts(self) -> list[str]:
        texts: list[str] = []
        system = self.doc.get("system")
        for block in _blocks(system) if system else ():
            text = block["text"]
            if text.strip() and not text.startswith(BILLING_HEADER):
                texts.append(text)
        for message in self.doc["messages"]:
            if message["role"] == "system" and (text := _text_of(message["content"])).strip():
                texts.append(text)
        return texts

    # -- messages ----------------------------------------------------------------------------

    def _turns(self) -> list[tuple[str, list[dict]]]:
        """User and assistant messages, same-role neighbours merged, server-tool blocks gone."""
        turns: list[tuple[str, list[dict]]] = []
        for i, message in enumerate(self.doc["messages"]):
            if message["role"] == "system":
                continue
            blocks = [dict(b, _at=f"messages.{i}.content.{j}") for j, b in enumerate(_blocks(message["content"]))
                      if b.get("type") not in SERVER_BLOCK_TYPES]
            if turns and turns[-1][0] == message["role"]:
                turns[-1][1].extend(blocks)
            else:
                turns.append((message["role"], blocks))
        for role, blocks in turns:
            if role == "assistant":
                for b in blocks:
                    if b["type"] == "tool_use":
                        self.names[b["id"]] = b["name"]
        return turns

    def _contents(self, turns: list[tuple[str, list[dict]]]) -> list[dict]:
        contents: list[dict] = []
        pending: list[tuple[str, str]] = []  # (id, name) of calls the next user turn must answer
        for role, blocks in turns:
            if role == "assistant":
                if pending:
                    contents.append(self._answers({}, pending))
                parts, pending = self._model_parts(blocks)
                if parts:
                    contents.append({"role": "model", "parts": parts})
                else:
                    pending = []
            else:
                contents.append(self._user_content(blocks, pending))
                pending = []
        if pending:
            contents.append(self._answers({}, pending))
        return _merge(c for c in contents if c["parts"])

    def _answers(self, given: dict[str, dict], pending: list[tuple[str, str]]) -> dict:
        parts = [given.get(call_id) or {"functionResponse": {"name": name, "id": call_id,
                                                              "response": {"error": INTERRUPTED}}}
                 for call_id, name in pending]
        return {"role": "user", "parts": parts}

    def _user_content(self, blocks: list[dict], pending: list[tuple[str, str]]) -> dict:
        answered: dict[str, dict] = {}
        others: list[dict] = []
        expected = {call_id for call_id, _ in pending}
        for block in blocks:
            if block["type"] == "tool_result":
                call_id = block["tool_use_id"]
                if call_id not in expected:
                    raise _fail(block["_at"], f"unexpected `tool_use_id` found in `tool_result` blocks: {call_id}. "
                                "Each `tool_result` block must have a corresponding `tool_use` block in the "
                                "previous message.")
                text, media = _tool_output(block)
                key = "error" if block.get("is_error") else "content"
                answered[call_id] = {"functionResponse": {"name": self.names[call_id], "id": call_id,
                                                          "response": {key: text}}}
                others += media
            elif block["type"] in ("thinking", "redacted_thinking", "tool_use"):
                continue
            else:
                others += _content_parts(block)
        parts = self._answers(answered, pending)["parts"] if pending else []
        return {"role": "user", "parts": parts + others}

    def _model_parts(self, blocks: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
        thoughts: list[dict] = []
        parts: list[dict] = []
        calls: list[dict] = []
        turn_signature: str | None = None
        for block in blocks:
            kind = block["type"]
            if kind == "thinking":
                signature = block.get("signature")
                if not self.signatures.trusted(self.target, block["thinking"], signature):
                    continue  # unsigned, foreign or forgotten: never forwarded, never re-signed
                turn_signature = turn_signature or signature
                if self.claude and self.thinking:
                    thoughts.append({"text": block["thinking"], "thought": True, "thoughtSignature": signature})
            elif kind == "tool_use":
                call = {"name": block["name"], "args": block.get("input") or {}, "id": block["id"]}
                part: dict[str, Any] = {"functionCall": call}
                known = self.signatures.for_call(self.target, block["id"])
                if known:
                    part["thoughtSignature"] = known
                calls.append(part)
            elif kind in ("text", "image", "document", "search_result"):
                parts += _content_parts(block)
        if calls and not self.claude and turn_signature and not any("thoughtSignature" in c for c in calls):
            calls[0]["thoughtSignature"] = turn_signature
        pending = [(c["functionCall"]["id"], c["functionCall"]["name"]) for c in calls]
        return thoughts + parts + calls, pending

    # -- thinking ----------------------------------------------------------------------------

    def _thinking_config(self, turns: list[tuple[str, list[dict]]]) -> tuple[bool, dict | None]:
        asked = self.doc.get("thinking") or {}
        kind = asked.get("type")
        if not self.thinks:
            return False, None
        if kind not in ("enabled", "adaptive"):
            if kind == "disabled" and "flash" in self.target and not self.target.startswith("gemini-3"):
                return False, {"thinkingBudget": 0}
            return False, None
        if self.claude and not self._claude_can_think(turns):
            return False, None
        effort = (self.doc.get("output_config") or {}).get("effort")
        if kind == "enabled":
            budget = asked.get("budget_tokens") or _EFFORT_BUDGET["high"]
        else:
            budget = _EFFORT_BUDGET.get(effort, -1 if not self.claude else _EFFORT_BUDGET["high"])
        config: dict[str, Any] = {"includeThoughts": True}
        if self.target.startswith("gemini-3"):
            config["thinkingLevel"] = "low" if (effort == "low" or 0 < budget <= 4096) else "high"
            return True, config
        cap = 24576 if "flash" in self.target else 32768
        if budget > cap:
            budget = cap
        max_tokens = self.doc.get("max_tokens")
        if self.claude and isinstance(max_tokens, int) and budget >= max_tokens:
            budget = max_tokens - 1
            if budget < 1024:
                return False, None
        config["thinkingBudget"] = budget
        return True, config

    def _claude_can_think(self, turns: list[tuple[str, list[dict]]]) -> bool:
        """Claude rejects a thinking request whose last tool-calling turn has no signed thinking."""
        for role, blocks in reversed(turns):
            if role != "assistant" or not any(b["type"] == "tool_use" for b in blocks):
                continue
            return any(b["type"] == "thinking" and self.signatures.trusted(self.target, b["thinking"], b.get("signature"))
                       for b in blocks)
        return True

    # -- tools and config --------------------------------------------------------------------

    def _tools(self) -> tuple[list[dict], dict | None]:
        declarations: list[dict] = []
        search = False
        for i, tool in enumerate(self.doc.get("tools") or ()):
            kind = tool.get("type")
            if (isinstance(kind, str) and kind.startswith("web_search")) or (
                    tool["name"] in _WEB_SEARCH_NAMES and "input_schema" not in tool):
                search = True
                continue
            if kind not in (None, "custom") and "input_schema" not in tool:
                raise _fail(f"tools.{i}.type", f"the Anthropic-hosted tool {kind!r} is not available through "
                            "this upstream; declare it as a custom tool with an input_schema")
            decl: dict[str, Any] = {"name": tool["name"]}
            if isinstance(tool.get("description"), str) and tool["description"]:
                decl["description"] = tool["description"]
            params = schema.to_gemini(tool.get("input_schema"))
            if params is not None:
                decl["parameters"] = params
            declarations.append(decl)
        tools: list[dict] = []
        if declarations:
            tools.append({"functionDeclarations": declarations})
        elif search:
            tools.append({"googleSearch": {}})
        choice = self.doc.get("tool_choice")
        if not declarations or not choice:
            return tools, None
        mode = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}[choice["type"]]
        config: dict[str, Any] = {"mode": mode}
        if choice["type"] == "tool":
            config["allowedFunctionNames"] = [choice["name"]]
        return tools, config

    def _generation_config(self, thinking: dict | None) -> dict:
        doc = self.doc
        config: dict[str, Any] = {}
        if isinstance(doc.get("max_tokens"), int) and not self.counting:
            limit = doc["max_tokens"]
            config["maxOutputTokens"] = min(limit, self.output_limit) if self.output_limit else limit
        for ours, theirs in (("temperature", "temperature"), ("topP", "top_p"), ("topK", "top_k")):
            if doc.get(theirs) is not None:
                config[ours] = doc[theirs]
        if doc.get("stop_sequences"):
            config["stopSequences"] = list(doc["stop_sequences"])
        fmt = _format_of(doc)
        if fmt is not None:
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = {k: v for k, v in fmt["schema"].items() if k != "$schema"}
        if thinking is not None:
            config["thinkingConfig"] = thinking
        return config


def _merge(contents: Any) -> list[dict]:
    merged: list[dict] = []
    for content in contents:
        if merged and merged[-1]["role"] == content["role"]:
            merged[-1]["parts"].extend(content["parts"])
        else:
            merged.append({"role": content["role"], "parts": list(content["parts"])})
    return merged


def to_hub(doc: dict, target: str, signatures: SignatureCache, *, thinks: bool = True,
           output_limit: int | None = None, counting: bool = False) -> HubRequest:
    """Validate `doc` and translate it for the upstream model `target`."""
    check(doc, counting=counting)
    return _Translator(doc, target, signatures, thinks, output_limit, counting).run()


def count_tokens_body(hub: dict, target: str) -> dict:
    """The upstream countTokens request for exactly what generation would send."""
    inner = {k: v for k, v in hub.items() if k in ("contents", "systemInstruction", "tools")}
    return {"generateContentRequest": {"model": f"models/{target}", **inner}}


def estimate_tokens(hub: dict) -> int:
    """About four characters per token over everything the model reads; media at a flat 258."""
    chars = 0
    media = 0
    for content in [*hub.get("contents", ()), hub.get("systemInstruction") or {"parts": []}]:
        for part in content["parts"]:
            if "inlineData" in part:
                media += 1
            elif "text" in part:
                chars += len(part["text"])
            else:
                chars += len(json.dumps(part, ensure_ascii=False))
    if hub.get("tools"):
        chars += len(json.dumps(hub["tools"], ensure_ascii=False))
    return (chars + 3) // 4 + 258 * media
