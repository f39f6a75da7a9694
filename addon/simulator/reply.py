"""What the simulated model says: text, thoughts or a function call, decided from the prompt alone.

Same request, same reply. The rules follow what real clients need (reference/clients.md): a
function is called only when the client clearly wants one (a single function offered, its name
written in the prompt, `mode: ANY`, or `[[sim call=NAME]]`), because Gemini CLI offers eight
tools on every turn and "say hi" must stay a greeting; a tool result is quoted back so a test can
see it arrived; JSON mode yields JSON valid for the schema; text is never empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import catalog, images
from .prompt import Function, Prompt
from .schema_values import Hints, value_for

DEFAULT_CHUNK_CHARS = 40
DEFAULT_THOUGHTS = 2
CALL_MESSAGE = "Model generated function call(s)."
_FILLER = (
    "The simulator streams its answer in small pieces, the way the real API does.",
    "Nothing here was written by a model; the words are derived from your prompt.",
    "Ask again with the same words and you will get the same answer.",
    "Prompt directives such as [sim chunks=20] change the length and pace of the stream.",
    "Keys that start with sim- make the simulator fail on purpose, for testing retries.",
)
_HEADINGS = ("Understanding the Request", "Planning the Answer", "Checking the Details",
             "Choosing the Words", "Finalizing the Reply")


@dataclass(frozen=True)
class Reply:
    """One candidate, before it is cut into events: each thought and text is one event."""

    thoughts: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    calls: tuple[dict[str, Any], ...] = ()
    finish_reason: str = "STOP"
    finish_message: str | None = None
    images: tuple[dict[str, str], ...] = ()  # inlineData blobs, each its own event after the texts


def compose(prompt: Prompt) -> Reply:
    thoughts = _thoughts(prompt)
    functions = _chosen_functions(prompt)
    if functions:
        hints = Hints(prompt.text, prompt.first_path(), required_only=True)
        calls = []
        for function in functions:
            args = value_for(function.schema, hints) or {}
            calls.append({"name": function.name, "args": args if isinstance(args, dict) else {}})
        return Reply(thoughts, calls=tuple(calls), finish_message=CALL_MESSAGE)
    d = prompt.directives
    if images.draws(prompt.model) and not d.reply:
        return Reply(thoughts, images=(images.inline_png(prompt.all_text),), finish_reason=d.finish or "STOP")
    if d.finish == "MALFORMED_FUNCTION_CALL":
        return Reply(thoughts, finish_reason=d.finish)
    text, extensible = _answer_text(prompt)
    chunk_chars = d.chunk_chars or DEFAULT_CHUNK_CHARS
    if extensible and d.chunks:
        text = _extend(text, d.chunks * chunk_chars)
        if d.chunk_chars:
            text = text[:d.chunks * d.chunk_chars]
    finish = d.finish or "STOP"
    limit = prompt.max_output_tokens
    if isinstance(limit, int) and limit > 0 and len(text) > limit * 4:
        text, finish = text[:limit * 4], "MAX_TOKENS"
    return Reply(thoughts, texts=tuple(_split(text, d.chunks, chunk_chars)), finish_reason=finish)


def _chosen_functions(prompt: Prompt) -> list[Function]:
    """Every function the prompt names, in the order named (parallel calls); else the one chosen."""
    mentioned = _mentioned(prompt)
    if len(mentioned) > 1 and not prompt.directives.call and not prompt.directives.reply \
            and not prompt.function_responses and prompt.tool_mode != "NONE":
        return mentioned
    function = _chosen_function(prompt)
    return [function] if function is not None else []


def _mentioned(prompt: Prompt) -> list[Function]:
    offered = [f for f in prompt.functions
               if prompt.allowed_functions is None or f.name in prompt.allowed_functions]
    found = []
    for f in offered:
        m = re.search(rf"(?<![\w-]){re.escape(f.name)}(?![\w-])", prompt.text)
        if m:
            found.append((m.start(), f))
    return [f for _, f in sorted(found, key=lambda pair: pair[0])]


def _chosen_function(prompt: Prompt) -> Function | None:
    offered = [f for f in prompt.functions
               if prompt.allowed_functions is None or f.name in prompt.allowed_functions]
    if not offered or prompt.tool_mode == "NONE" or prompt.function_responses:
        return None
    wanted = prompt.directives.call
    if wanted:
        return next((f for f in offered if f.name == wanted), None)
    if prompt.directives.reply:
        return None
    mentioned = []
    for f in offered:
        m = re.search(rf"(?<![\w-]){re.escape(f.name)}(?![\w-])", prompt.text)
        if m:
            mentioned.append((m.start(), f))
    if mentioned:
        return min(mentioned, key=lambda pair: pair[0])[1]
    if len(offered) == 1 or prompt.tool_mode == "ANY":
        return offered[0]
    return None


def _answer_text(prompt: Prompt) -> tuple[str, bool]:
    """The whole answer, and whether filler may lengthen it."""
    if prompt.directives.reply:
        return prompt.directives.reply, False
    if prompt.function_responses:
        return _tool_result_text(prompt.function_responses), True
    audio = [(mime, size) for mime, size in prompt.media if mime.startswith("audio/")]
    if audio:
        heard = ", ".join(f"{size} bytes of {mime}" for mime, size in audio)
        return f"This is a simulated transcript of {heard}; no speech recognition was run.", False
    if prompt.wants_json:
        value = value_for(prompt.json_schema or {"type": "object", "properties": {
            "answer": {"type": "string"}}}, Hints(prompt.text, prompt.first_path()))
        return json.dumps(value, ensure_ascii=False), False
    quote = _short(prompt.text) or "(an empty message)"
    return (f'You said: "{quote}". This is the interlock simulator answering as {prompt.model}; '
            "no real model was called."), True


def _tool_result_text(responses: tuple[dict[str, Any], ...]) -> str:
    rendered = []
    for response in responses:
        body = response.get("response")
        if isinstance(body, dict) and isinstance(body.get("output"), str):
            output = body["output"]
        elif isinstance(body, dict) and isinstance(body.get("content"), str):
            output = body["content"]
        else:
            output = json.dumps(body, ensure_ascii=False)
        rendered.append(f"{response.get('name', 'the tool')} returned: {output or '(nothing)'}")
    return "The tool call finished. " + "\n".join(rendered)


def _thoughts(prompt: Prompt) -> tuple[str, ...]:
    if not prompt.include_thoughts or not catalog.thinks(prompt.model):
        return ()
    count = prompt.directives.thoughts
    count = DEFAULT_THOUGHTS if count is None else count
    topic = _short(prompt.text, 50) or "an empty message"
    return tuple(
        f"**{_HEADINGS[i % len(_HEADINGS)]}**\n\nI'm considering \"{topic}\" (step {i + 1} of "
        f"{count}) and working out a short, direct answer that addresses it.\n\n\n"
        for i in range(count))


def _extend(text: str, length: int) -> str:
    pieces, size, i = [text], len(text), len(text)
    while size < length:
        sentence = " " + _FILLER[i % len(_FILLER)]
        pieces.append(sentence)
        size, i = size + len(sentence), i + 1
    return "".join(pieces)


def _split(text: str, chunks: int | None, chunk_chars: int) -> list[str]:
    """Exactly `chunks` non-empty pieces when asked (text permitting), else `chunk_chars` each."""
    if not text:
        return []
    if chunks:
        n = min(chunks, len(text))
        return [text[i * len(text) // n:(i + 1) * len(text) // n] for i in range(n)]
    return [text[i:i + chunk_chars] for i in range(0, len(text), chunk_chars)]


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"
