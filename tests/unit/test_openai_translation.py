"""Golden tests for the OpenAI translators, both directions.

Upstream direction: every real Gemini stream fixture, split at every byte, becomes the exact
chat.completion.chunk SSE (and chat.completion / text_completion) stored under
tests/golden/openai, and every chunk parses with the openai SDK's own types. Request direction:
the chat requests the openai SDK sent in the captures, and a request using every feature we
translate, become the stored hub requests. `INTERLOCK_REGOLD=1` rewrites the goldens.
"""

import json
from pathlib import Path

import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from addon.errors import ClientError
from addon.protocols import openai_chat, openai_stream
from addon.upstream.gemini_api import GeminiEvents
from goldens import Golden

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
UPSTREAM = SHARED / "upstream"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "openai"
STREAMS = sorted(p.stem for p in UPSTREAM.glob("gemini_stream*.sse"))
ID, CREATED, MODEL = "chatcmpl-golden", 1760000000, "gpt-4o"


def decode(chunks: list[bytes]) -> list[dict]:
    d = GeminiEvents()
    events = []
    for c in chunks:
        events += d.feed(c)
    return events + d.close()


def chat_sse(events: list[dict], include_usage: bool = True) -> bytes:
    w = openai_stream.ChatStreamWriter(ID, CREATED, MODEL, include_usage=include_usage)
    return b"".join(w.feed(e) for e in events) + w.close()


def completion_sse(events: list[dict]) -> bytes:
    w = openai_stream.CompletionStreamWriter("cmpl-golden", CREATED, MODEL)
    return b"".join(w.feed(e) for e in events) + w.close()


def payloads(sse: bytes) -> list[str]:
    assert sse.endswith(b"data: [DONE]\n\n")
    frames = sse.decode().split("\n\n")
    assert frames[-1] == ""
    assert all(f.startswith("data: ") for f in frames[:-1])
    return [f[6:] for f in frames[:-2]]


check_golden = Golden(GOLDEN).check


def pretty(doc: object) -> bytes:
    return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"


@pytest.mark.parametrize("name", STREAMS)
def test_stream_goldens(name):
    events = decode([(UPSTREAM / f"{name}.sse").read_bytes()])
    check_golden(f"{name}.chat.sse", chat_sse(events))
    check_golden(f"{name}.chat.json", pretty(openai_stream.chat_completion(events, ID, CREATED, MODEL)))
    check_golden(f"{name}.completion.sse", completion_sse(events))
    check_golden(f"{name}.completion.json",
                 pretty(openai_stream.text_completion(events, "cmpl-golden", CREATED, MODEL)))


@pytest.mark.parametrize("name", STREAMS)
def test_split_at_every_byte_gives_the_same_chunks(name):
    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    whole, legacy = chat_sse(decode([raw])), completion_sse(decode([raw]))
    for i in range(len(raw) + 1):
        events = decode([raw[:i], raw[i:]])
        assert chat_sse(events) == whole, i
        assert completion_sse(events) == legacy, i


@pytest.mark.parametrize("name", STREAMS)
def test_every_chunk_parses_with_the_sdk_types(name):
    events = decode([(UPSTREAM / f"{name}.sse").read_bytes()])
    chunks = [ChatCompletionChunk.model_validate(json.loads(p)) for p in payloads(chat_sse(events))]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    finishes = [c.choices[0].finish_reason for c in chunks[:-1] if c.choices[0].finish_reason]
    assert len(finishes) == 1
    ChatCompletion.model_validate(openai_stream.chat_completion(events, ID, CREATED, MODEL))
    for p in payloads(completion_sse(events)):
        chunk = json.loads(p)
        # The SDK's type says finish_reason is never null, yet OpenAI streams null until the last
        # chunk (the SDK builds stream chunks without validating); check everything else.
        for choice in chunk["choices"]:
            choice["finish_reason"] = choice["finish_reason"] or "stop"
        Completion.model_validate(chunk)
    Completion.model_validate(openai_stream.text_completion(events, "cmpl-golden", CREATED, MODEL))


def test_tool_call_deltas_reassemble_to_the_arguments():
    events = decode([(UPSTREAM / "gemini_stream_function_call.sse").read_bytes()])
    chunks = [json.loads(p) for p in payloads(chat_sse(events, include_usage=False))]
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    arguments = "".join(tc["function"].get("arguments", "") for tc in calls)
    assert json.loads(arguments) == {"city": "Washington D.C."}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    assert reasoning.startswith("**Pinpointing")
    whole = openai_stream.chat_completion(events, ID, CREATED, MODEL)
    message = whole["choices"][0]["message"]
    assert message["tool_calls"][0]["id"] == calls[0]["id"] and message["reasoning_content"] == reasoning
    assert whole["usage"]["completion_tokens_details"]["reasoning_tokens"] == 56


def test_parallel_calls_get_distinct_indices_and_single_call_keeps_the_first():
    parts = [{"functionCall": {"name": "a", "args": {"x": 1}}}, {"functionCall": {"name": "b", "args": {}}}]
    event = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    whole = openai_stream.chat_completion([event], ID, CREATED, MODEL)
    calls = whole["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["a", "b"] and calls[0]["id"] != calls[1]["id"]
    single = openai_stream.chat_completion([event], ID, CREATED, MODEL, single_call=True)
    assert [c["function"]["name"] for c in single["choices"][0]["message"]["tool_calls"]] == ["a"]
    chunks = [json.loads(p) for p in payloads(chat_sse([event], include_usage=False))]
    assert sorted({tc["index"] for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])}) == [0, 1]


@pytest.mark.parametrize("reason,expected", [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                             ("RECITATION", "content_filter"), ("OTHER", "stop")])
def test_finish_reasons(reason, expected):
    event = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": reason}]}
    chunks = [ChatCompletionChunk.model_validate(json.loads(p)) for p in payloads(chat_sse([event], False))]
    assert chunks[-1].choices[0].finish_reason == expected


def test_interrupted_stream_and_midstream_failure_end_with_an_error_then_done():
    raw = (UPSTREAM / "gemini_stream_text.sse").read_bytes()
    cut = chat_sse(decode([raw[: raw.rindex(b"data: ")]]))
    last = json.loads(payloads(cut)[-1])
    assert last["error"]["code"] is None and "interrupted" in last["error"]["message"]
    w = openai_stream.ChatStreamWriter(ID, CREATED, MODEL)
    assert w.ping() == b": keep-alive\n\n"
    out = w.fail(503, "overloaded")
    assert json.loads(payloads(out)[0])["error"]["message"] == "overloaded"
    assert w.close() == b"" and w.feed({"candidates": []}) == b""


def test_blocked_prompt_is_a_refusal_with_content_filter():
    event = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
    whole = ChatCompletion.model_validate(openai_stream.chat_completion([event], ID, CREATED, MODEL))
    assert whole.choices[0].finish_reason == "content_filter" and "SAFETY" in whole.choices[0].message.refusal


# --- request direction -----------------------------------------------------------------------

def captured_chat_requests() -> list[tuple[str, dict]]:
    seen, found = set(), []
    for line in (SHARED / "clients" / "python-sdks.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("path", "").endswith("chat/completions") and isinstance(record.get("body"), dict):
            key = json.dumps(record["body"], sort_keys=True)
            if key not in seen:
                seen.add(key)
                found.append((f"sdk-{record['seq']}", record["body"]))
    return found


RICH = json.loads((GOLDEN / "request_every_feature.json").read_text())


@pytest.mark.parametrize("name,body", captured_chat_requests() + [("every-feature", RICH)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_request_goldens(name, body):
    hub = openai_chat.to_hub(body, "gemini-2.5-flash", {"https://example.com/cat.png": ("image/png", "iVBORw0K")})
    check_golden(f"request_{name}.hub.json", pretty(hub))


def test_sdk_captures_hold_chat_requests():
    assert len(captured_chat_requests()) >= 2


def test_remote_image_urls_are_found_for_the_endpoint_to_fetch():
    assert openai_chat.remote_image_urls(RICH) == {
        "https://example.com/cat.png": "messages[2].content[2].image_url.url",
        "https://example.com/dog.jpg": "messages[2].content[3].image_url.url"}


def test_a_local_path_as_image_url_is_refused_not_read():
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "/etc/passwd"}}]}]}
    with pytest.raises(ClientError) as e:
        openai_chat.to_hub(body, "gemini-2.5-flash")
    assert e.value.param == "messages[0].content[0].image_url.url"


def msgs(*messages, **extra):
    return {"model": "gpt-4o", "messages": list(messages), **extra}


USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize("body,param", [
    ({"messages": [USER]}, "model"),
    ({"model": "gpt-4o"}, "messages"),
    (msgs(), "messages"),
    ({"model": "gpt-4o", "messages": "hi"}, "messages"),
    (msgs("hi"), "messages[0]"),
    (msgs({"content": "x"}), "messages[0].role"),
    (msgs({"role": "robot", "content": "x"}), "messages[0].role"),
    (msgs({"role": "user", "content": 5}), "messages[0].content"),
    (msgs({"role": "user", "content": [{"type": "video", "video": "x"}]}), "messages[0].content[0].type"),
    (msgs({"role": "user", "content": [{"type": "text", "text": 1}]}), "messages[0].content[0].text"),
    (msgs(USER, {"role": "tool", "tool_call_id": "call_x", "content": "r"}), "messages[1].tool_call_id"),
    (msgs(USER, {"role": "tool", "content": "r"}), "messages[1].tool_call_id"),
    (msgs(USER, temperature="hot"), "temperature"),
    (msgs(USER, temperature=3), "temperature"),
    (msgs(USER, top_p=True), "top_p"),
    (msgs(USER, max_tokens=0), "max_tokens"),
    (msgs(USER, max_tokens=1.5), "max_tokens"),
    (msgs(USER, stop=[1]), "stop[0]"),
    (msgs(USER, n="2"), "n"),
    (msgs(USER, tools={"a": 1}), "tools"),
    (msgs(USER, tools=[{"type": "function", "function": {"name": "bad name"}}]), "tools[0].function.name"),
    (msgs(USER, tool_choice="always"), "tool_choice"),
    (msgs(USER, tools=[{"type": "function", "function": {"name": "f"}}],
          tool_choice={"type": "function", "function": {"name": "g"}}), "tool_choice.function.name"),
    (msgs(USER, response_format={"type": "yaml"}), "response_format.type"),
    (msgs(USER, reasoning_effort="max"), "reasoning_effort"),
])
def test_bad_requests_name_the_field(body, param):
    with pytest.raises(ClientError) as e:
        openai_chat.to_hub(body, "gemini-2.5-flash")
    assert e.value.param == param and e.value.status == 400


def test_stream_options_are_checked():
    assert openai_chat.stream_options({"stream": True, "stream_options": {"include_usage": True}}) == (True, True)
    with pytest.raises(ClientError) as e:
        openai_chat.stream_options({"stream": "yes"})
    assert e.value.param == "stream"


def test_reasoning_effort_sets_the_thinking_budget():
    hub = openai_chat.to_hub(msgs(USER, reasoning_effort="low"), "gemini-2.5-flash")
    assert hub["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 4096}
    assert openai_chat.to_hub(msgs(USER, reasoning_effort="none"), "gemini-2.5-pro")[
        "generationConfig"]["thinkingConfig"] == {"thinkingBudget": 128}
