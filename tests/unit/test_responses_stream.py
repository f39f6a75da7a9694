"""Golden tests for the Responses stream translator: every upstream stream fixture (Gemini API,
and Cloud Code with its `response` envelope unwrapped) → Responses SSE bytes and the non-stream
response object, compared exactly, with the input split at every byte; every event checked
against the openai SDK's own types. `INTERLOCK_REGOLD=1` rewrites the goldens.
"""

import json
import typing
from pathlib import Path

import pytest
from openai.types.responses import Response, ResponseStreamEvent

from addon.protocols import responses_stream
from addon.protocols.openai_responses import ToolNames
from addon.upstream.gemini_api import GeminiEvents
from goldens import Golden, parse_sse

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "responses"
STREAMS = sorted(p.stem for p in UPSTREAM.glob("*stream*.sse"))
ID, CREATED, MODEL, UPSTREAM_MODEL = "resp_golden", 1760000000, "gpt-5.1-codex", "gemini-2.5-flash"
EVENT_TYPES = {typing.get_args(c.model_fields["type"].annotation)[0]: c
               for c in typing.get_args(typing.get_args(ResponseStreamEvent)[0])}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def validate_event(data: dict) -> None:
    """The SDK's own model for the event's type (a discriminated union: one lookup, one clear error)."""
    EVENT_TYPES[data["type"]].model_validate(data)


def decode(chunks: list[bytes]) -> list[dict]:
    d = GeminiEvents()
    events = []
    for c in chunks:
        events += d.feed(c)
    events += d.close()
    return [e["response"] if isinstance(e.get("response"), dict) else e for e in events]


def machine(**kw) -> responses_stream.ResponsesEvents:
    return responses_stream.ResponsesEvents(ID, CREATED, MODEL, UPSTREAM_MODEL, encrypted=True,
                                            echo={"store": False}, **kw)


def translate(events: list[dict], **kw) -> bytes:
    w = responses_stream.ResponsesStreamWriter(machine(**kw))
    return b"".join(w.feed(e) for e in events) + w.close()


check_golden = Golden(GOLDEN).check


def test_every_stream_fixture_is_covered():
    assert {"gemini_stream_text", "gemini_stream_thinking", "cloudcode_stream_thinking",
            "cloudcode_stream_function_call"} <= set(STREAMS)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_goldens(name):
    events = decode([(UPSTREAM / f"{name}.sse").read_bytes()])
    out = translate(events)
    check_golden(f"{name}.sse", out)
    whole = responses_stream.collect(events, machine())
    check_golden(f"{name}.response.json", json.dumps(whole, indent=2, ensure_ascii=False).encode() + b"\n")
    parsed = parse_sse(out)
    for k, (event_name, data) in enumerate(parsed):
        assert event_name == data["type"] and data["sequence_number"] == k
        validate_event(data)
    kinds = [d["type"] for _, d in parsed]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in TERMINAL and sum(k in TERMINAL for k in kinds) == 1
    Response.model_validate(whole)
    assert {**parsed[-1][1]["response"], "output_text": whole["output_text"]} == whole
    done = [d["item"] for _, d in parsed if d["type"] == "response.output_item.done"]
    assert done == whole["output"]


@pytest.mark.parametrize("name", STREAMS)
def test_split_at_every_byte_gives_the_same_bytes(name):
    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    whole = translate(decode([raw]))
    for i in range(len(raw) + 1):
        assert translate(decode([raw[:i], raw[i:]])) == whole, i


def _text_event(text: str, finish: str | None = None, **extra) -> dict:
    cand = {"content": {"role": "model", "parts": [{"text": text, **extra}]}}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3}}


@pytest.mark.parametrize("finish,reason", [("MAX_TOKENS", "max_output_tokens"), ("SAFETY", "content_filter")])
def test_stopped_short_is_incomplete_with_the_reason(finish, reason):
    parsed = parse_sse(translate([_text_event("partial", finish)]))
    last = parsed[-1][1]
    assert last["type"] == "response.incomplete" and last["response"]["incomplete_details"] == {"reason": reason}
    validate_event(last)


def test_no_finish_reason_fails_once_and_an_upstream_error_too():
    parsed = parse_sse(translate([_text_event("cut off")]))
    kinds = [d["type"] for _, d in parsed]
    assert kinds[-1] == "response.failed" and kinds.count("response.failed") == 1
    assert "interrupted" in parsed[-1][1]["response"]["error"]["message"]
    w = responses_stream.ResponsesStreamWriter(machine())
    out = w.feed(_text_event("Hel")) + w.fail(429, "quota") + w.close()
    parsed = parse_sse(out)
    assert parsed[-1][1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "quota"}
    assert [d["type"] for _, d in parsed].count("response.failed") == 1
    assert parsed[-2][1]["type"] == "response.output_item.done"  # the open message still closes first
    for _, d in parsed:
        validate_event(d)


def test_blocked_prompt_is_incomplete_content_filter():
    parsed = parse_sse(translate([{"promptFeedback": {"blockReason": "SAFETY"}}]))
    assert [d["type"] for _, d in parsed] == ["response.created", "response.in_progress", "response.incomplete"]


def test_tool_kinds_follow_the_declaration():
    names = ToolNames(kinds={"apply_patch": "custom", "local_shell": "local_shell", "ns.spawn": "function"},
                      namespaces={"ns.spawn": ("ns", "spawn")})
    calls = [{"functionCall": {"name": "apply_patch", "args": {"input": "*** Begin Patch"}}},
             {"functionCall": {"name": "local_shell", "args": {"command": ["ls", "-la"], "workdir": "/tmp"}}},
             {"functionCall": {"name": "ns.spawn", "args": {"task": "x"}}}]
    event = {"candidates": [{"content": {"role": "model", "parts": calls}, "finishReason": "STOP"}]}
    parsed = parse_sse(translate([event], tools=names))
    for _, d in parsed:
        validate_event(d)
    items = parsed[-1][1]["response"]["output"]
    assert [i["type"] for i in items] == ["custom_tool_call", "local_shell_call", "function_call"]
    assert items[0]["input"] == "*** Begin Patch"
    assert items[1]["action"] == {"type": "exec", "command": ["ls", "-la"], "env": {}, "working_directory": "/tmp"}
    assert (items[2]["namespace"], items[2]["name"]) == ("ns", "spawn")
    assert len({i["call_id"] for i in items}) == 3


def test_parallel_tool_calls_false_keeps_the_first_call():
    calls = [{"functionCall": {"name": "a", "args": {}}}, {"functionCall": {"name": "b", "args": {}}}]
    event = {"candidates": [{"content": {"role": "model", "parts": calls}, "finishReason": "STOP"}]}
    items = parse_sse(translate([event], single_call=True))[-1][1]["response"]["output"]
    assert [i["name"] for i in items] == ["a"]


def test_usage_counts_cached_and_reasoning_tokens():
    assert responses_stream.usage({"promptTokenCount": 100, "cachedContentTokenCount": 40, "candidatesTokenCount": 7,
                                   "thoughtsTokenCount": 30}) == {
        "input_tokens": 100, "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 0},
        "output_tokens": 37, "output_tokens_details": {"reasoning_tokens": 30}, "total_tokens": 137}
