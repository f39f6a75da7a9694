"""The openai SDK (3.54.0) against a real gateway and simulator over real sockets: Responses API.

Every streamed event is read raw from the wire and validated strictly with the SDK's own model for
its type (the SDK itself only constructs them); `stream.get_final_response()` must match the
non-stream object in content (ids differ: each is its own response).
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import RunningGateway  # noqa: E402

MODEL = "gemini-2.5-flash"
EVENT_TYPES = {typing.get_args(c.model_fields["type"].annotation)[0]: c
               for c in typing.get_args(typing.get_args(ResponseStreamEvent)[0])}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def sdk(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-anything", max_retries=0)


def last_request(gw) -> dict:
    return [r for r in gw.sim.log if r.request is not None][-1].request


def raw_events(gw, body: dict) -> list[dict]:
    """POST a streaming request and validate every event against the SDK's type for it."""
    events = []
    with httpx.stream("POST", gw.url + "/v1/responses", json={**body, "stream": True}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["type"] == name and data["sequence_number"] == len(events)
                EVENT_TYPES[data["type"]].model_validate(data, strict=False)
                events.append(data)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert sum(k in TERMINAL for k in kinds) == 1 and kinds[-1] in TERMINAL
    return events


def content(response: Response | dict) -> list[tuple]:
    """What a response says, without its ids."""
    doc = response.model_dump() if isinstance(response, Response) else response
    out = []
    for item in doc["output"]:
        if item["type"] == "message":
            out.append(("message", tuple(p["text"] for p in item["content"])))
        elif item["type"] == "reasoning":
            out.append(("reasoning", tuple(s["text"] for s in item["summary"])))
        elif item["type"] == "function_call":
            out.append(("function_call", item["name"], item["arguments"]))
    return out


def test_text_create_and_stream_agree(gateway):
    c = sdk(gateway)
    whole = c.responses.create(model=MODEL, input="hello there", instructions="Be brief.")
    assert whole.status == "completed" and "hello there" in whole.output_text
    assert whole.usage.input_tokens > 0 and whole.usage.output_tokens > 0
    request = last_request(gateway)
    assert request["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    with c.responses.stream(model=MODEL, input="hello there", instructions="Be brief.") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert content(final) == content(whole) and final.output_text == whole.output_text
    assert kinds[-1] == "response.completed"
    events = raw_events(gateway, {"model": MODEL, "input": "hello there", "instructions": "Be brief."})
    Response.model_validate(events[-1]["response"])
    assert content(events[-1]["response"]) == content(whole)


def test_reasoning_summary(gateway):
    c = sdk(gateway)
    body = {"model": MODEL, "input": "why is the sky blue", "reasoning": {"effort": "low", "summary": "auto"}}
    whole = c.responses.create(**body)
    kinds = [item.type for item in whole.output]
    assert kinds == ["reasoning", "message"] and whole.output[0].summary[0].text
    assert whole.usage.output_tokens_details.reasoning_tokens > 0
    assert last_request(gateway)["generationConfig"]["thinkingConfig"] == {"includeThoughts": True,
                                                                           "thinkingBudget": 4096}
    events = raw_events(gateway, body)
    kinds = [e["type"] for e in events]
    assert "response.reasoning_summary_text.delta" in kinds and "response.reasoning_summary_part.done" in kinds
    assert content(events[-1]["response"]) == content(whole)
    with c.responses.stream(**body) as stream:
        final = stream.get_final_response()
    assert content(final) == content(whole)


def test_two_round_function_tool_loop_with_previous_response_id(gateway):
    c = sdk(gateway)
    first = c.responses.create(model=MODEL, input="what is the weather in Paris", tools=[WEATHER])
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments)["city"]
    second = c.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert "sunny, 21 C" in second.output_text
    contents = last_request(gateway)["contents"]
    assert [c_["role"] for c_ in contents] == ["user", "model", "user"]
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_two_round_function_tool_loop_streamed_with_full_history(gateway):
    """Codex's way: store false, the whole history every turn, reasoning echoed with its encrypted content."""
    c = sdk(gateway)
    body = {"model": MODEL, "tools": [WEATHER], "store": False, "include": ["reasoning.encrypted_content"],
            "reasoning": {"summary": "auto"}}
    history: list = [{"role": "user", "content": "what is the weather in Paris"}]
    with c.responses.stream(input=history, **body) as stream:
        first = stream.get_final_response()
    assert [i.type for i in first.output] == ["reasoning", "function_call"]
    assert first.output[0].encrypted_content
    call = first.output[1]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"})
    events = raw_events(gateway, {**body, "input": history})
    assert "sunny, 21 C" in "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    model_turn = last_request(gateway)["contents"][1]
    assert model_turn["parts"][0]["functionCall"]["name"] == "get_weather"
    assert model_turn["parts"][0]["thoughtSignature"]  # handed back from encrypted_content
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(first.id)  # store: false keeps nothing


class City(BaseModel):
    name: str
    population: int


def test_structured_output(gateway):
    parsed = sdk(gateway).responses.parse(model=MODEL, input="a city please", text_format=City)
    assert isinstance(parsed.output_parsed, City)
    config = last_request(gateway)["generationConfig"]
    assert config["responseMimeType"] == "application/json" and "name" in config["responseJsonSchema"]["properties"]


def test_previous_response_id_survives_a_gateway_restart(gateway):
    c = sdk(gateway)
    first = c.responses.create(model=MODEL, input="remember the word MANGO")
    gateway.stop()
    again = RunningGateway(gateway.home).start()
    try:
        c = sdk(again)
        assert c.responses.retrieve(first.id).output_text == first.output_text
        second = c.responses.create(model=MODEL, input="which word?", previous_response_id=first.id)
        assert second.previous_response_id == first.id and "which word?" in second.output_text
        contents = last_request(again)["contents"]
        assert contents[0]["parts"] == [{"text": "remember the word MANGO"}]
        assert [x["role"] for x in contents] == ["user", "model", "user"]
    finally:
        again.stop()


def test_get_delete_and_404_in_the_openai_envelope(gateway):
    c = sdk(gateway)
    made = c.responses.create(model=MODEL, input="keep me")
    assert c.responses.retrieve(made.id).output_text == made.output_text
    c.responses.delete(made.id)
    for method in ("GET", "DELETE"):
        r = httpx.request(method, f"{gateway.url}/v1/responses/{made.id}")
        assert r.status_code == 404 and made.id in r.json()["error"]["message"]
    r = httpx.post(gateway.url + "/v1/responses", json={"model": MODEL, "input": "x",
                                                       "previous_response_id": "resp_nope"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "previous_response_id"


def test_alias_without_v1(gateway):
    r = httpx.post(gateway.url + "/responses", json={"model": MODEL, "input": "hi"})
    assert r.status_code == 200 and r.json()["object"] == "response"


def test_websocket_upgrade_is_refused_at_once(gateway):
    r = httpx.get(gateway.url + "/v1/responses", headers={"upgrade": "websocket", "connection": "Upgrade",
                                                          "sec-websocket-version": "13",
                                                          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == 426 and "WebSocket" in r.json()["error"]["message"]


@pytest.mark.parametrize("body,param,text", [
    ({"model": MODEL, "input": [{"type": "telepathy"}]}, "input[0].type", "telepathy"),
    ({"model": MODEL, "input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]},
     "input[0].call_id", "call_x"),
])
def test_bad_input_is_a_400_naming_the_problem(gateway, body, param, text):
    with pytest.raises(openai.BadRequestError) as e:
        sdk(gateway).responses.create(**body)
    assert e.value.body["param"] == param and text in e.value.message


def test_malformed_json_is_a_400(gateway):
    r = httpx.post(gateway.url + "/v1/responses", content=b'{"model": "m", "input": ',
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Invalid JSON" in r.json()["error"]["message"]


def test_midstream_failure_ends_with_response_failed(start_gateway):
    gw = start_gateway(keys=["sim-midstream-error2"])
    events = raw_events(gw, {"model": MODEL, "input": "long one [[sim chunks=6]]"})
    assert events[-1]["type"] == "response.failed" and events[-1]["response"]["error"]["message"]
    with sdk(gw).responses.stream(model=MODEL, input="long one [[sim chunks=6]]") as stream:
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.failed" and kinds.count("response.failed") == 1
