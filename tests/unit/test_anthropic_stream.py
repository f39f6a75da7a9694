"""Golden tests: every upstream stream fixture (Gemini API, and Cloud Code with its `response`
envelope unwrapped) → Anthropic SSE bytes and the collected Message, compared exactly, with the
input split at every byte; every event checked against the anthropic SDK's own types.
`INTERLOCK_REGOLD=1` rewrites the goldens (review the diff before committing them).
"""

import json
from pathlib import Path

import pytest
from anthropic.types import ErrorResponse, Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from addon.protocols import anthropic_stream
from addon.upstream.gemini_api import GeminiEvents
from goldens import Golden, parse_sse

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "anthropic"
STREAMS = sorted(p.stem for p in UPSTREAM.glob("*stream*.sse"))
MODEL = "claude-sonnet-4-6"
EVENT = TypeAdapter(RawMessageStreamEvent)


def validate_event(data: dict) -> None:
    """The SDK's stream reader skips `ping` and raises on `error`; everything else is a RawMessageStreamEvent."""
    if data["type"] == "ping":
        assert data == {"type": "ping"}
    elif data["type"] == "error":
        ErrorResponse.model_validate(data)
    else:
        EVENT.validate_python(data)


def decode(chunks: list[bytes]) -> list[dict]:
    d = GeminiEvents()
    events = []
    for c in chunks:
        events += d.feed(c)
    events += d.close()
    return [e["response"] if isinstance(e.get("response"), dict) else e for e in events]


def translate(events: list[dict], sink=None) -> bytes:
    w = anthropic_stream.AnthropicStreamWriter(MODEL, "msg_golden", sink)
    return b"".join(w.feed(e) for e in events) + w.close()


check_golden = Golden(GOLDEN).check


def test_every_stream_fixture_is_covered():
    assert {"gemini_stream_text", "cloudcode_stream_thinking", "cloudcode_stream_function_call"} <= set(STREAMS)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_goldens(name):
    events = decode([(UPSTREAM / f"{name}.sse").read_bytes()])
    assert events and all("candidates" in e for e in events)
    out = translate(events)
    check_golden(f"{name}.sse", out)
    message = anthropic_stream.collect(events, MODEL, "msg_golden")
    check_golden(f"{name}.message.json", json.dumps(message, indent=2, ensure_ascii=False).encode() + b"\n")
    parsed = parse_sse(out)
    for name_, data in parsed:
        assert name_ == data["type"]
        validate_event(data)
    assert [t for t, _ in parsed][0] == "message_start" and [t for t, _ in parsed][-2:] == ["message_delta", "message_stop"]
    Message.model_validate(message)
    assert anthropic_stream.accumulate(d for _, d in parsed) == message


@pytest.mark.parametrize("name", STREAMS)
def test_split_at_every_byte_gives_the_same_bytes(name):
    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    whole = translate(decode([raw]))
    for i in range(len(raw) + 1):
        assert translate(decode([raw[:i], raw[i:]])) == whole, i


def test_signature_is_sent_before_the_thinking_block_closes_and_remembered():
    seen = []
    out = translate(decode([(UPSTREAM / "cloudcode_stream_thinking.sse").read_bytes()]),
                    lambda kind, key, sig: seen.append((kind, key, sig)))
    kinds = [(d["type"], d.get("delta", {}).get("type")) for _, d in parse_sse(out)]
    sig_at = kinds.index(("content_block_delta", "signature_delta"))
    assert kinds[sig_at + 1] == ("content_block_stop", None)
    assert seen == [("thinking", "I should inspect.", "claude-signature-0123456789012345678901234567890123456789")]


def test_function_call_signature_signs_the_thinking_before_it_and_the_call():
    seen = []
    message = anthropic_stream.collect(decode([(UPSTREAM / "gemini_stream_function_call.sse").read_bytes()]),
                                       MODEL, "msg_x", lambda kind, key, sig: seen.append((kind, key, sig)))
    thinking, call = message["content"]
    assert thinking["type"] == "thinking" and thinking["signature"].startswith("CiQB")
    assert call["type"] == "tool_use" and call["input"] == {"city": "Washington D.C."}
    assert call["id"].startswith("toolu_") and message["stop_reason"] == "tool_use"
    assert [k for k, *_ in seen] == ["thinking", "call"] and seen[1][1] == call["id"]


def test_usage_excludes_cached_input_and_counts_thinking_as_output():
    message = anthropic_stream.collect(decode([(UPSTREAM / "cloudcode_stream_thinking.sse").read_bytes()]),
                                       MODEL, "msg_x")
    assert message["usage"]["input_tokens"] == 100 and message["usage"]["cache_read_input_tokens"] == 20
    assert message["usage"]["output_tokens"] == 9


def test_clean_end_without_finish_reason_still_closes():
    raw = (UPSTREAM / "gemini_stream_text.sse").read_bytes()
    cut = raw[: raw.rindex(b"data: ")]
    parsed = parse_sse(translate(decode([cut])))
    assert [t for t, _ in parsed][-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_midstream_error_is_one_error_event_and_nothing_after():
    w = anthropic_stream.AnthropicStreamWriter(MODEL, "msg_x")
    raw = (UPSTREAM / "gemini_stream_text.sse").read_bytes()
    out = w.feed(decode([raw])[0]) + w.fail(503, "The model is overloaded.") + w.close() + w.fail(500, "again")
    parsed = parse_sse(out)
    assert parsed[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                               "message": "The model is overloaded."}})
    assert [t for t, _ in parsed].count("error") == 1
    validate_event(parsed[-1][1])


def test_ping_is_an_sdk_event():
    w = anthropic_stream.AnthropicStreamWriter(MODEL, "msg_x")
    ((name, data),) = parse_sse(w.ping())
    assert name == "ping"
    validate_event(data)


def test_refusal_and_max_tokens():
    base = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "SAFETY"}]}
    assert anthropic_stream.collect([base], MODEL, "m")["stop_reason"] == "refusal"
    base["candidates"][0]["finishReason"] = "MAX_TOKENS"
    assert anthropic_stream.collect([base], MODEL, "m")["stop_reason"] == "max_tokens"
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}}
    assert anthropic_stream.collect([blocked], MODEL, "m")["stop_reason"] == "refusal"
