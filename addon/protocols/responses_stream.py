"""Hub stream (GenerateContentResponse deltas) → OpenAI Responses events. A state machine, no I/O.

    response.created  response.in_progress
    per output item:  output_item.added  (its part/summary/argument events)  output_item.done
    exactly one of:   response.completed | response.incomplete | response.failed

Thought parts become a `reasoning` item with one summary part; answer text a `message` item with
one `output_text` part; each function call (whole, as Gemini sends it) a `function_call`,
`custom_tool_call` or `local_shell_call` item, as the client declared the tool. An item is done
when the next one starts, so every item is complete in its `output_item.done`, which is where
Codex reads the answer from. Every event carries `sequence_number`, counted from 0.

Thought signatures are kept in the reasoning item's `encrypted_content` when the client asked
for it (`include: ["reasoning.encrypted_content"]`); a signature with no thinking to sit on gets
a reasoning item with an empty summary, as OpenAI's reasoning models send. `model_parts` is the
turn in hub form (call ids filled in) for the conversation store. Ids and `created_at` come from
the caller, so golden tests compare bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from addon.protocols import hub
from addon.protocols.hub import INTERRUPTED
from addon.protocols.openai_responses import LOCAL_SHELL, ToolNames, signatures_blob
from addon.protocols.sse import dumps, encode

FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                      "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})
CallSink = Callable[[str, str], None]
"""on_call_signature(call_id, signature): remembered so a client that drops reasoning items still works."""


def usage(meta: dict | None) -> dict:
    """usageMetadata → Responses usage; thinking counts as output, as OpenAI's reasoning tokens do."""
    meta = meta or {}
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    output = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0),
                                                     "cache_write_tokens": 0},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": thoughts},
            "total_tokens": prompt + output}


def skeleton(response_id: str, created_at: int, model: str, echo: dict) -> dict:
    """The response object as `response.created` shows it; the request's settings echoed."""
    reasoning = echo.get("reasoning") if isinstance(echo.get("reasoning"), dict) else {}
    text = echo.get("text") if isinstance(echo.get("text"), dict) else {}
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": "in_progress",
        "background": False, "error": None, "incomplete_details": None,
        "instructions": echo.get("instructions"), "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": echo.get("max_tool_calls"), "model": model, "output": [],
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": echo.get("previous_response_id"), "prompt_cache_key": echo.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": echo.get("safety_identifier"), "service_tier": "default",
        "store": echo.get("store", True), "temperature": echo.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity", "medium")},
        "tool_choice": echo.get("tool_choice", "auto"), "tools": echo.get("tools", []),
        "top_logprobs": echo.get("top_logprobs", 0), "top_p": echo.get("top_p", 1.0),
        "truncation": echo.get("truncation", "disabled"), "usage": None, "user": echo.get("user"),
        "metadata": echo.get("metadata") or {},
    }


class ResponsesEvents:
    """Hub events in, Responses event dicts out."""

    def __init__(self, response_id: str, created_at: int, model: str, upstream_model: str, *,
                 echo: dict | None = None, tools: ToolNames | None = None, single_call: bool = False,
                 encrypted: bool = False, on_call_signature: CallSink | None = None) -> None:
        self.response = skeleton(response_id, created_at, model, echo or {})
        self.upstream_model = upstream_model
        self.tools = tools or ToolNames()
        self.single_call = single_call
        self.encrypted = encrypted
        self.on_call_signature = on_call_signature
        self.model_parts: list[dict] = []
        self._seq = 0
        self._started = False
        self._closed = False
        self._open: dict | None = None  # the item being streamed
        self._text = ""  # text of the open item (summary or output_text)
        self._signatures: list[dict] = []  # of the open reasoning item
        self._calls = 0
        self._finish: str | None = None
        self._blocked: str | None = None
        self._usage: dict | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    # -- input ---------------------------------------------------------------------------------

    def feed(self, event: dict) -> list[dict]:
        if self._closed:
            return []
        out = self._start()
        delta = hub.read(event)
        self._usage = delta.usage or self._usage
        self._blocked = delta.block_reason or self._blocked
        for part in delta.parts:
            out += self._part(part)
        self._finish = delta.finish_reason or self._finish
        return out

    def fail(self, status: int, message: str) -> list[dict]:
        """The upstream broke off: close what is open, then `response.failed` with the reason."""
        if self._closed:
            return []
        out = self._start() + self._close_item()
        self._closed = True
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        self.response.update(status="failed", error={"code": code, "message": message}, usage=usage(self._usage))
        return out + [self._event("response.failed", response=self._snapshot())]

    def close(self) -> list[dict]:
        if self._closed:
            return []
        if self._finish is None and self._blocked is None:
            return self.fail(502, INTERRUPTED)
        out = self._start() + self._close_item()
        self._closed = True
        reason = None
        if self._blocked or self._finish in FILTERED:
            reason = "content_filter"
        elif self._finish == "MAX_TOKENS":
            reason = "max_output_tokens"
        self.response["usage"] = usage(self._usage)
        if reason:
            self.response.update(status="incomplete", incomplete_details={"reason": reason})
            return out + [self._event("response.incomplete", response=self._snapshot())]
        self.response["status"] = "completed"
        return out + [self._event("response.completed", response=self._snapshot())]

    # -- items ---------------------------------------------------------------------------------

    def _part(self, part: dict) -> list[dict]:
        signature = part.get("thoughtSignature") or part.get("thought_signature")
        if part.get("thought"):
            text = part.get("text") if isinstance(part.get("text"), str) else ""
            out = [] if self._kind() == "reasoning" else self._open_reasoning()
            if text:
                self._text += text
                self._add_model_part({"text": text, "thought": True})
                out.append(self._item_event("response.reasoning_summary_text.delta", summary_index=0, delta=text))
            if signature:
                self._sign({"on": "thought", "sig": signature})
                self._sign_model_part(signature)
            return out
        if "functionCall" in part and isinstance(part["functionCall"], dict):
            return self._call(part["functionCall"], signature)
        text = part.get("text")
        if isinstance(part.get("inlineData"), dict):
            media = part["inlineData"]
            text = f"![image](data:{media.get('mimeType', 'image/png')};base64,{media.get('data', '')})"
        if not isinstance(text, str) or not text:
            if signature:
                self._signed_elsewhere({"on": "answer", "sig": signature}, starting=self._kind() != "message")
            return []
        out: list[dict] = []
        if signature:
            out += self._signed_elsewhere({"on": "answer", "sig": signature}, starting=self._kind() != "message")
        if self._kind() != "message":
            out += self._open_message()
        self._text += text
        self._add_model_part({"text": text}, signature)
        out.append(self._item_event("response.output_text.delta", content_index=0, delta=text, logprobs=[]))
        return out

    def _signed_elsewhere(self, entry: dict, starting: bool) -> list[dict]:
        """A signature on an answer part or call: it joins the open reasoning item, or gets one of its own."""
        if self._kind() == "reasoning":
            self._sign(entry)
            return []
        if not (self.encrypted and starting):
            return []
        out = self._open_reasoning(summary=False)
        self._sign(entry)
        return out

    def _call(self, call: dict, signature: str | None) -> list[dict]:
        if self.single_call and self._calls:
            return []  # the client asked for parallel_tool_calls=false
        self._calls += 1
        name = str(call.get("name") or "")
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else self._call_id()
        args = call.get("args") if isinstance(call.get("args"), dict) else {}
        out: list[dict] = []
        if signature:
            out += self._signed_elsewhere({"on": "call", "call_id": call_id, "sig": signature}, starting=True)
            if self.on_call_signature is not None:
                self.on_call_signature(call_id, signature)
        out += self._close_item()
        self._add_model_part({"functionCall": {"name": name, "args": args, "id": call_id}}, signature)
        kind = self.tools.kinds.get(name, "function")
        index = len(self.response["output"])
        if kind == LOCAL_SHELL:
            command = args.get("command")
            action: dict[str, Any] = {"type": "exec", "command": [str(c) for c in command] if isinstance(
                command, list) else [str(command or "")], "env": {}}
            if isinstance(args.get("workdir"), str):
                action["working_directory"] = args["workdir"]
            if isinstance(args.get("timeout_ms"), int):
                action["timeout_ms"] = args["timeout_ms"]
            item = {"id": self._item_id("lsh", index), "type": "local_shell_call", "call_id": call_id,
                    "action": action, "status": "in_progress"}
            self._open = item
            return out + [self._added(item)] + self._close_item()
        if kind == "custom":
            value = args.get("input")
            text = value if isinstance(value, str) else dumps(args)
            item = {"id": self._item_id("ctc", index), "type": "custom_tool_call", "status": "in_progress",
                    "call_id": call_id, "name": name, "input": ""}
            self._open = item
            self._text = text
            return out + [self._added(item), self._item_event("response.custom_tool_call_input.delta", delta=text)
                          ] + self._close_item()
        arguments = dumps(args)
        item = {"id": self._item_id("fc", index), "type": "function_call", "status": "in_progress",
                "arguments": "", "call_id": call_id, "name": name}
        if name in self.tools.namespaces:
            item["namespace"], item["name"] = self.tools.namespaces[name]
        self._open = item
        self._text = arguments
        return out + [self._added(item), self._item_event("response.function_call_arguments.delta", delta=arguments)
                      ] + self._close_item()

    def _open_reasoning(self, summary: bool = True) -> list[dict]:
        out = self._close_item()
        item = {"id": self._item_id("rs", len(self.response["output"])), "type": "reasoning", "summary": []}
        self._open = item
        self._signatures = []
        out.append(self._added(item))
        if summary:
            item["_summary"] = True
            out.append(self._item_event("response.reasoning_summary_part.added", summary_index=0,
                                        part={"type": "summary_text", "text": ""}))
        return out

    def _open_message(self) -> list[dict]:
        out = self._close_item()
        item = {"id": self._item_id("msg", len(self.response["output"])), "type": "message",
                "status": "in_progress", "content": [], "role": "assistant"}
        self._open = item
        out.append(self._added(item))
        out.append(self._item_event("response.content_part.added", content_index=0,
                                    part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""}))
        return out

    def _close_item(self) -> list[dict]:
        item = self._open
        if item is None:
            return []
        out: list[dict] = []
        text, kind = self._text, item["type"]
        if kind == "reasoning":
            if item.pop("_summary", False):
                part = {"type": "summary_text", "text": text}
                out.append(self._item_event("response.reasoning_summary_text.done", summary_index=0, text=text))
                out.append(self._item_event("response.reasoning_summary_part.done", summary_index=0, part=part))
                item["summary"] = [part]
            if self.encrypted and self._signatures:
                item["encrypted_content"] = signatures_blob(self.upstream_model, self._signatures)
        elif kind == "message":
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            out.append(self._item_event("response.output_text.done", content_index=0, text=text, logprobs=[]))
            out.append(self._item_event("response.content_part.done", content_index=0, part=part))
            item.update(status="completed", content=[part])
        elif kind == "function_call":
            out.append(self._item_event("response.function_call_arguments.done", arguments=text,
                                        name=item["name"]))
            item.update(status="completed", arguments=text)
        elif kind == "custom_tool_call":
            out.append(self._item_event("response.custom_tool_call_input.done", input=text))
            item.update(status="completed", input=text)
        else:
            item["status"] = "completed"
        self.response["output"].append(item)
        out.append(self._event("response.output_item.done", output_index=len(self.response["output"]) - 1,
                               item=_copy(item)))
        self._open, self._text, self._signatures = None, "", []
        return out

    # -- helpers -------------------------------------------------------------------------------

    def _kind(self) -> str | None:
        return self._open["type"] if self._open is not None else None

    def _sign(self, entry: dict) -> None:
        key = (entry["on"], entry.get("call_id"))
        self._signatures = [e for e in self._signatures if (e["on"], e.get("call_id")) != key] + [entry]

    def _add_model_part(self, part: dict, signature: str | None = None) -> None:
        last = self.model_parts[-1] if self.model_parts else None
        if (last is not None and "text" in part and "text" in last and bool(last.get("thought")) ==
                bool(part.get("thought")) and not signature and "functionCall" not in last):
            last["text"] += part["text"]
            return
        part = dict(part)
        if signature:
            part["thoughtSignature"] = signature
        self.model_parts.append(part)

    def _sign_model_part(self, signature: str) -> None:
        if self.model_parts:
            self.model_parts[-1]["thoughtSignature"] = signature

    def _call_id(self) -> str:
        digest = hashlib.sha256(f"{self.response['id']}/call/{self._calls}".encode()).hexdigest()
        return "call_" + digest[:24]

    def _item_id(self, prefix: str, index: int) -> str:
        return f"{prefix}_" + hashlib.sha256(f"{self.response['id']}/{index}".encode()).hexdigest()[:32]

    def _start(self) -> list[dict]:
        if self._started:
            return []
        self._started = True
        return [self._event("response.created", response=self._snapshot()),
                self._event("response.in_progress", response=self._snapshot())]

    def _snapshot(self) -> dict:
        return _copy(self.response)

    def _added(self, item: dict) -> dict:
        shown = {k: v for k, v in item.items() if not k.startswith("_")}
        return self._event("response.output_item.added", output_index=len(self.response["output"]), item=_copy(shown))

    def _item_event(self, kind: str, **fields_: Any) -> dict:
        assert self._open is not None
        return self._event(kind, item_id=self._open["id"], output_index=len(self.response["output"]), **fields_)

    def _event(self, kind: str, **fields_: Any) -> dict:
        event = {"type": kind, **fields_, "sequence_number": self._seq}
        self._seq += 1
        return event


def _copy(doc: dict) -> dict:
    return json.loads(json.dumps(doc))


def frame(events: Iterable[dict]) -> bytes:
    return b"".join(encode(dumps(e), e["type"]) for e in events)


class ResponsesStreamWriter:
    """The `StreamWriter` the relay drives: `ResponsesEvents` framed as SSE (`event:` + `data:`)."""

    def __init__(self, events: ResponsesEvents) -> None:
        self.events = events

    def feed(self, event: dict) -> bytes:
        return frame(self.events.feed(event))

    def ping(self) -> bytes:
        return b": keep-alive\n\n"

    def fail(self, status: int, message: str) -> bytes:
        return frame(self.events.fail(status, message))

    def close(self) -> bytes:
        return frame(self.events.close())


def output_text(response: dict) -> str:
    """What the SDKs' `output_text` property gives: the text of every output_text part, joined."""
    return "".join(part.get("text", "") for item in response.get("output") or () if item.get("type") == "message"
                   for part in item.get("content") or () if part.get("type") == "output_text")


def collect(hub_events: Iterable[dict], machine: ResponsesEvents) -> dict:
    """A whole upstream stream → the one response object, through the same machine as streaming."""
    terminal: dict | None = None
    for event in hub_events:
        machine.feed(event)
    for event in machine.close():
        if event["type"] in ("response.completed", "response.incomplete", "response.failed"):
            terminal = event["response"]
    assert terminal is not None
    return {**terminal, "output_text": output_text(terminal)}
