"""google-genai through the gateway, against the simulator, over real sockets."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

MODEL = "gemini-2.5-flash"


def client(gw, api_version: str) -> genai.Client:
    return genai.Client(api_key="client-key",
                        http_options=types.HttpOptions(base_url=gw.url, api_version=api_version))


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_generate(gateway, api_version):
    c = client(gateway, api_version)
    resp = c.models.generate_content(model=MODEL, contents="Tell me about otters")
    assert resp.text and "otters" in resp.text.lower()
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.usage_metadata.prompt_token_count > 0
    assert [r.path for r in gateway.sim.log][-1].endswith(f"/models/{MODEL}:streamGenerateContent")


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_stream_arrives_incrementally(gateway, api_version):
    prompt = "Count for me [[sim chunks=12 interval_ms=60]]"
    arrivals, texts = [], []
    c = client(gateway, api_version)
    for chunk in c.models.generate_content_stream(model=MODEL, contents=prompt):
        arrivals.append(time.monotonic())
        texts.append(chunk.text or "")
    record = [r for r in gateway.sim.log if r.stream][-1]
    sent = record.event_times
    assert len(arrivals) == len(sent) >= 12
    # Each chunk reached the client before the simulator sent the event two places later:
    # a buffering gateway would deliver everything after the last send.
    for i in range(len(sent) - 2):
        assert arrivals[i] < sent[i + 2], f"chunk {i} arrived after event {i + 2} was sent"
    assert "".join(texts)


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_count_tokens_and_list_models(gateway, api_version):
    c = client(gateway, api_version)
    counted = c.models.count_tokens(model=MODEL, contents="one two three four five six seven eight")
    assert counted.total_tokens and counted.total_tokens > 0
    names = [m.name for m in c.models.list()]
    assert f"models/{MODEL}" in names
    assert c.models.get(model=MODEL).name == f"models/{MODEL}"


def test_thinking_and_function_call_round_trip(gateway):
    c = client(gateway, "v1beta")
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="weather for a city",
        parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")},
                                required=["city"]))])
    config = types.GenerateContentConfig(tools=[tool], thinking_config=types.ThinkingConfig(include_thoughts=True),
                                         automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    first = c.models.generate_content(model=MODEL, contents="Use get_weather for Paris", config=config)
    parts = first.candidates[0].content.parts
    call = next(p for p in parts if p.function_call)
    assert call.function_call.name == "get_weather" and call.thought_signature
    assert any(p.thought for p in parts)
    history = [types.Content(role="user", parts=[types.Part(text="Use get_weather for Paris")]),
               first.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(
                   name="get_weather", response={"output": "sunny, 21C"})])]
    second = c.models.generate_content(model=MODEL, contents=history, config=config)
    assert "sunny, 21C" in second.text


def test_structured_output_is_schema_valid_json(gateway):
    config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema={
        "type": "object", "properties": {"score": {"type": "integer"}, "why": {"type": "string"}},
        "required": ["score", "why"]})
    c = client(gateway, "v1beta")
    resp = c.models.generate_content(model=MODEL, contents="rate this", config=config)
    doc = json.loads(resp.text)
    assert isinstance(doc["score"], int) and isinstance(doc["why"], str)


def test_raw_sse_and_json_array_framing(gateway):
    body = {"contents": [{"role": "user", "parts": [{"text": "hi [[sim chunks=3]]"}]}]}
    url = f"{gateway.url}/v1beta/models/{MODEL}:streamGenerateContent"
    sse = httpx.post(url + "?alt=sse", json=body, timeout=30)
    assert sse.status_code == 200 and sse.headers["content-type"].startswith("text/event-stream")
    assert sse.headers["x-mapped-model"] == MODEL and sse.headers["x-account-email"].startswith("key-")
    events = [json.loads(line[6:]) for line in sse.text.split("\r\n") if line.startswith("data: ")]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    array = httpx.post(url, json=body, timeout=30)
    assert array.headers["content-type"].startswith("application/json")
    assert [e["candidates"][0]["content"] for e in json.loads(array.text)] == \
        [e["candidates"][0]["content"] for e in events]


def test_upstream_model_error_passes_through_in_gemini_envelope(gateway):
    r = httpx.post(f"{gateway.url}/v1beta/models/not-a-model:generateContent",
                   json={"contents": [{"parts": [{"text": "x"}]}]}, timeout=30)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND" and r.headers["x-should-retry"] == "false"


def test_sdk_sees_upstream_errors_as_client_errors(gateway):
    c = client(gateway, "v1beta")
    with pytest.raises(genai_errors.ClientError) as e:
        c.models.generate_content(model="not-a-model", contents="x")
    assert e.value.code == 404
