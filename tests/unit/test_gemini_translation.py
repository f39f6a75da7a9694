"""Golden tests: upstream Gemini stream bytes in (real fixtures), client bytes out, compared
exactly, with the input split at every byte boundary. `INTERLOCK_REGOLD=1` rewrites the goldens
(review the diff before committing them).
"""

import json
from pathlib import Path

import pytest

from addon.protocols import gemini
from addon.upstream.gemini_api import GeminiEvents
from goldens import Golden

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "gemini"
STREAMS = ["gemini_stream_text", "gemini_stream_thinking", "gemini_stream_function_call",
           "gemini_stream_malformed_function_call"]


def decode(chunks: list[bytes]) -> list[dict]:
    d = GeminiEvents()
    events = []
    for c in chunks:
        events += d.feed(c)
    return events + d.close()


def translate(events: list[dict], sse: bool) -> bytes:
    w = gemini.GeminiStreamWriter(sse)
    return b"".join(w.feed(e) for e in events) + w.close()


check_golden = Golden(GOLDEN).check


@pytest.mark.parametrize("name", STREAMS)
def test_stream_goldens(name):
    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    events = decode([raw])
    assert events and all("candidates" in e for e in events)
    check_golden(f"{name}.sse", translate(events, sse=True))
    check_golden(f"{name}.array.json", translate(events, sse=False))
    check_golden(f"{name}.collected.json",
                 json.dumps(gemini.collect(events), indent=2, ensure_ascii=False).encode() + b"\n")


@pytest.mark.parametrize("name", STREAMS)
def test_split_at_every_byte_gives_the_same_bytes(name):
    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    whole = translate(decode([raw]), sse=True)
    for i in range(len(raw) + 1):
        assert translate(decode([raw[:i], raw[i:]]), sse=True) == whole, i


def test_array_framing_parses_as_the_same_events():
    events = decode([(UPSTREAM / "gemini_stream_thinking.sse").read_bytes()])
    assert json.loads(translate(events, sse=False)) == events


def test_sse_output_reframes_each_upstream_event_once():
    raw = (UPSTREAM / "gemini_stream_function_call.sse").read_bytes()
    out = translate(decode([raw]), sse=True)
    assert out.count(b"data: ") == raw.count(b"data: ")
    assert out.endswith(b"\r\n\r\n")


def test_cut_stream_ends_with_googles_error_object():
    raw = (UPSTREAM / "gemini_stream_text.sse").read_bytes()
    cut = raw[: raw.rindex(b"data: ")]
    out = translate(decode([cut]), sse=True)
    tail = out[out.rindex(b"\r\n\r\n") + 4:]
    assert json.loads(tail)["error"]["status"] == "UNAVAILABLE"
    arr = json.loads(translate(decode([cut]), sse=False))
    assert arr[-1]["error"]["code"] == 502


def test_midstream_failure_and_ping():
    w = gemini.GeminiStreamWriter(sse=True)
    assert w.ping() == b"\r\n"
    out = w.fail(503, "overloaded")
    assert json.loads(out) == {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    assert w.close() == b""


def test_collect_joins_text_and_keeps_calls():
    events = decode([(UPSTREAM / "gemini_stream_function_call.sse").read_bytes()])
    parts = gemini.collect(events)["candidates"][0]["content"]["parts"]
    assert [("functionCall" in p, bool(p.get("thought"))) for p in parts] == [(False, True), (True, False)]
    assert gemini.collect(events)["candidates"][0]["finishReason"] == "STOP"


def test_collected_text_stream_matches_the_concatenated_text():
    events = decode([(UPSTREAM / "gemini_stream_text.sse").read_bytes()])
    text = "".join(p["text"] for e in events for p in e["candidates"][0]["content"]["parts"])
    collected = gemini.collect(events)
    assert collected["candidates"][0]["content"]["parts"] == [{"text": text}]
    assert collected["usageMetadata"] == events[-1]["usageMetadata"]


@pytest.mark.parametrize("name", STREAMS)
def test_every_emitted_event_is_a_valid_sdk_response(name):
    """google-genai's own pydantic types (extra fields forbidden) accept every event we emit."""
    from google.genai import types

    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    events = decode([raw])
    emitted = [json.loads(line[6:]) for line in translate(events, sse=True).split(b"\r\n") if line.startswith(b"data: ")]
    assert len(emitted) == len(events)
    for event in emitted + [gemini.collect(events)]:
        types.GenerateContentResponse.model_validate(event)


def test_unsigned_function_calls_get_the_sentinel_for_gemini_3_only():
    def history():
        return {"contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "a", "args": {}}},
                                        {"functionCall": {"name": "b", "args": {}}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "c", "args": {}}, "thoughtSignature": "real"}]},
        ]}

    signed = gemini.sign_function_calls(history(), "gemini-3-pro-preview")["contents"]
    assert signed[1]["parts"][0]["thoughtSignature"] == gemini.SIGNATURE_SENTINEL
    assert "thoughtSignature" not in signed[1]["parts"][1]
    assert signed[2]["parts"][0]["thoughtSignature"] == "real"
    assert gemini.sign_function_calls(history(), "gemini-2.5-flash") == history()


def test_clean_drops_undefined_placeholders():
    doc = {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topK": "[undefined]", "topP": 1},
           "tools": ["[undefined]"]}
    assert gemini.clean(doc) == {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topP": 1},
                                 "tools": []}


@pytest.mark.parametrize("name", STREAMS)
def test_sse_client_gets_the_upstream_bytes_unchanged(name):
    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    assert translate(decode([raw]), sse=True) == raw
