"""The official openai SDK through the gateway, against the simulator, over real sockets:
chat (text, streams, tool loops, parallel calls, JSON schema, images, reasoning), legacy
completions, and bad input. Every streamed chunk is re-validated with the SDK's own types.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

MODEL = "gpt-4o"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def sdk(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-anything", max_retries=0)


def validated(stream) -> list[ChatCompletionChunk]:
    """Every chunk, re-validated strictly (the SDK itself only constructs them)."""
    return [ChatCompletionChunk.model_validate(chunk.model_dump(exclude_unset=True)) for chunk in stream]


def last_request(gw) -> dict:
    return [r for r in gw.sim.log if r.request is not None][-1].request


def test_text(gateway):
    resp = sdk(gateway).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "Tell me about otters"}])
    assert resp.headers["x-mapped-model"] == "gemini-2.5-flash"
    done = ChatCompletion.model_validate(resp.parse().model_dump(exclude_unset=True))
    assert done.object == "chat.completion" and done.model == MODEL and done.id.startswith("chatcmpl-")
    assert "otters" in done.choices[0].message.content and done.choices[0].finish_reason == "stop"
    assert done.usage.prompt_tokens > 0 and done.usage.total_tokens >= done.usage.completion_tokens > 0
    assert done.usage.prompt_tokens_details.cached_tokens == 0
    sent = last_request(gateway)
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert gateway.sim.log[-1].path.endswith("gemini-2.5-flash:streamGenerateContent")


def test_stream_with_include_usage(gateway):
    stream = sdk(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count for me [[sim chunks=6]]"}],
        stream=True, stream_options={"include_usage": True})
    chunks = validated(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Count for me" in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_ends_with_done(gateway):
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json={
            "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
        body = b"".join(r.iter_bytes())
    assert r.headers["content-type"].startswith("text/event-stream")
    frames = body.decode().split("\n\n")
    assert frames[-2] == "data: [DONE]" and frames[-1] == ""
    for frame in frames[:-2]:
        ChatCompletionChunk.model_validate_json(frame.removeprefix("data: "))
        assert "usage" not in json.loads(frame[6:])


def reassemble(chunks: list[ChatCompletionChunk]) -> dict[int, dict]:
    calls: dict[int, dict] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            into = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            into["id"] = tc.id or into["id"]
            if tc.function:
                into["name"] += tc.function.name or ""
                into["arguments"] += tc.function.arguments or ""
    return calls


def test_two_round_tool_loop_streamed(gateway):
    client = sdk(gateway)
    messages = [{"role": "user", "content": "Use get_weather for Paris"}]
    first = validated(client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME],
                                                     stream=True))
    calls = reassemble(first)
    assert list(calls) == [0] and calls[0]["name"] == "get_weather" and calls[0]["id"]
    args = json.loads(calls[0]["arguments"])
    assert isinstance(args["city"], str)
    assert first[-1].choices[0].finish_reason == "tool_calls"
    messages += [{"role": "assistant", "content": None, "tool_calls": [
        {"id": calls[0]["id"], "type": "function",
         "function": {"name": "get_weather", "arguments": calls[0]["arguments"]}}]},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny, 21C"}]
    second = validated(client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME],
                                                      stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in second if c.choices)
    assert "sunny, 21C" in text and second[-1].choices[0].finish_reason == "stop"
    sent = last_request(gateway)["contents"]
    assert sent[1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert sent[2]["parts"][0]["functionResponse"]["response"] == {"output": "sunny, 21C"}


def test_parallel_tool_calls(gateway):
    client = sdk(gateway)
    messages = [{"role": "user", "content": "Call get_weather and get_time for Rome"}]
    chunks = validated(client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME],
                                                      stream=True))
    calls = reassemble(chunks)
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert calls[0]["id"] != calls[1]["id"] and all(json.loads(c["arguments"]) for c in calls.values())
    whole = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME])
    assert [t.function.name for t in whole.choices[0].message.tool_calls] == ["get_weather", "get_time"]
    assert whole.choices[0].finish_reason == "tool_calls"
    single = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME],
                                            parallel_tool_calls=False)
    assert [t.function.name for t in single.choices[0].message.tool_calls] == ["get_weather"]
    answers = [{"role": "tool", "tool_call_id": t.id, "content": f"{t.function.name} ok"}
               for t in whole.choices[0].message.tool_calls]
    final = client.chat.completions.create(model=MODEL, tools=[WEATHER, TIME], messages=[
        *messages, whole.choices[0].message.model_dump(exclude_none=True), *answers])
    assert "get_weather returned: get_weather ok" in final.choices[0].message.content
    assert "get_time returned: get_time ok" in final.choices[0].message.content


def test_tool_choice_required_and_none(gateway):
    client = sdk(gateway)
    messages = [{"role": "user", "content": "hello there"}]
    forced = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME],
                                            tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert forced.choices[0].message.tool_calls[0].function.name == "get_time"
    assert last_request(gateway)["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}
    quiet = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "get_weather?"}],
                                           tools=[WEATHER], tool_choice="none")
    assert quiet.choices[0].message.tool_calls is None and quiet.choices[0].message.content


def test_json_schema_output(gateway):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
              "required": ["city", "days"], "additionalProperties": False}
    done = sdk(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "A forecast for Oslo"}],
        response_format={"type": "json_schema", "json_schema": {"name": "forecast", "schema": schema, "strict": True}})
    value = json.loads(done.choices[0].message.content)
    assert isinstance(value["city"], str) and isinstance(value["days"], int)
    config = last_request(gateway)["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseJsonSchema"] == schema


def test_image_input_data_url_and_http_url(gateway):
    class Images(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            data = base64.b64decode(PNG)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/pixel.png"
        done = sdk(gateway).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}])
    finally:
        server.shutdown()
    assert "What is in these images" in done.choices[0].message.content
    parts = last_request(gateway)["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    assert parts[2] == {"inlineData": {"mimeType": "image/png", "data": PNG}}


def test_reasoning_content_stream_and_whole(gateway):
    client = sdk(gateway)
    messages = [{"role": "user", "content": "Think about tea"}]
    chunks = validated(client.chat.completions.create(model=MODEL, messages=messages, reasoning_effort="low",
                                                      stream=True, stream_options={"include_usage": True}))
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
                        for c in chunks if c.choices)
    assert "tea" in reasoning
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0
    whole = client.chat.completions.create(model=MODEL, messages=messages, reasoning_effort="low")
    assert whole.choices[0].message.model_extra["reasoning_content"] == reasoning
    follow = client.chat.completions.create(model=MODEL, messages=[
        *messages, whole.choices[0].message.model_dump(exclude_none=True), {"role": "user", "content": "more"}])
    assert last_request(gateway)["contents"][1]["parts"][0] == {"text": reasoning, "thought": True}
    assert follow.choices[0].message.content


def test_midstream_failure_raises_in_the_sdk(start_gateway):
    gw = start_gateway(keys=["sim-midstream-error2"])
    stream = sdk(gw).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "long one [[sim chunks=6]]"}], stream=True)
    got = []
    with pytest.raises(openai.APIError) as e:
        for chunk in stream:
            got.append(chunk)
    assert got and "overloaded" in str(e.value).lower()


def test_legacy_completions(gateway):
    client = sdk(gateway)
    resp = client.completions.with_raw_response.create(model=MODEL, prompt="Say hello to otters", max_tokens=200,
                                                       suffix="!")
    assert "suffix" in resp.headers["x-interlock-note"]
    done = Completion.model_validate(resp.parse().model_dump(exclude_unset=True))
    assert done.object == "text_completion" and "otters" in done.choices[0].text
    assert done.choices[0].finish_reason == "stop" and done.usage.total_tokens > 0
    assert last_request(gateway)["generationConfig"] == {"maxOutputTokens": 200}
    several = client.completions.create(model=MODEL, prompt=["first one", "second one"], stop=["zzz"])
    assert [c.index for c in several.choices] == [0, 1]
    assert "first one" in several.choices[0].text and "second one" in several.choices[1].text
    text = ""
    for chunk in client.completions.create(model=MODEL, prompt="stream it [[sim chunks=4]]", stream=True):
        assert chunk.object == "text_completion"
        text += chunk.choices[0].text
    assert "stream it" in text
    short = client.completions.create(model=MODEL, prompt="tell me a long story", max_tokens=3)
    assert short.choices[0].finish_reason == "length"


BAD = [
    ("/v1/chat/completions", b"{not json", None, "Invalid JSON"),
    ("/v1/chat/completions", b'{"model": "gpt-4o"}', "messages", "required"),
    ("/v1/chat/completions", b'{"model": "gpt-4o", "messages": []}', "messages", "at least one"),
    ("/v1/chat/completions", b'{"model": "gpt-4o", "messages": {"role": "user"}}', "messages", "array"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_404", "content": "r"}]}).encode(),
     "messages[1].tool_call_id", "call_404"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [
        {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "x"}}]}]}).encode(),
     "messages[0].content[0].type", "video_url"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]}).encode(),
     "messages[0].content[0].image_url.url", "http(s) URL"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [
        {"role": "user", "content": [{"type": "image_url",
                                      "image_url": {"url": "http://127.0.0.1:9/x.png"}}]}]}).encode(),
     "messages[0].content[0].image_url.url", "could not fetch image"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": 1}]}).encode(),
     "messages[0].content", "integer"),
    ("/v1/chat/completions", json.dumps({"model": 5, "messages": [{"role": "user", "content": "x"}]}).encode(),
     "model", "model"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
                                         "temperature": "hot"}).encode(), "temperature", "number"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
                                         "stream": "yes"}).encode(), "stream", "boolean"),
    ("/v1/chat/completions", json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
                                         "tools": [{"type": "function"}]}).encode(), "tools[0].function", "object"),
    ("/v1/completions", b'{"model": "gpt-4o"}', "prompt", "required"),
    ("/v1/completions", b'{"model": "gpt-4o", "prompt": [1, 2, 3]}', "prompt", "token arrays"),
    ("/v1/completions", b'{"model": "gpt-4o", "prompt": ["a", "b"], "stream": true}', "prompt", "several"),
]


@pytest.mark.parametrize("path,body,param,text", BAD)
def test_bad_input_is_a_400_naming_the_field(gateway, path, body, param, text):
    r = httpx.post(gateway.url + path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and text in err["message"]
    assert r.headers["x-should-retry"] == "false"


def test_sdk_raises_bad_request_with_param(gateway):
    with pytest.raises(openai.BadRequestError) as e:
        sdk(gateway).chat.completions.create(model=MODEL, messages=[])
    assert e.value.param == "messages"
    assert httpx.get(gateway.url + "/healthz").status_code == 200


def test_alias_without_v1(gateway):
    c = openai.OpenAI(base_url=gateway.url, api_key="x", max_retries=0)
    assert c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]).choices


def test_keepalive_comments_while_the_upstream_is_silent(start_gateway):
    gw = start_gateway(options={"keepalive_interval_s": 0.05})
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json={
            "model": MODEL, "stream": True,
            "messages": [{"role": "user", "content": "slow [[sim chunks=3 interval_ms=400]]"}]}) as r:
        body = b"".join(r.iter_bytes())
    assert b": keep-alive\n\n" in body and body.endswith(b"data: [DONE]\n\n")
    chunks = [f[6:] for f in body.decode().split("\n\n") if f.startswith("data: {")]
    assert "".join(json.loads(c)["choices"][0]["delta"].get("content", "") for c in chunks).startswith("You said")


def test_gemini_3_call_ids_round_trip(gateway):
    client = sdk(gateway)
    messages = [{"role": "user", "content": "Use get_weather for Oslo"}]
    first = client.chat.completions.create(model="gemini-3-pro-preview", messages=messages, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    upstream_id = json.dumps(call.id)
    assert call.id and not call.id.startswith("call_")  # Gemini 3's own id, so the answer can echo it
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "snow"}]
    second = client.chat.completions.create(model="gemini-3-pro-preview", messages=messages, tools=[WEATHER])
    assert "snow" in second.choices[0].message.content
    sent = last_request(gateway)["contents"]
    assert json.dumps(sent[1]["parts"][0]["functionCall"]["id"]) == upstream_id
    assert sent[1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert sent[2]["parts"][0]["functionResponse"]["id"] == call.id


def test_chat_with_an_image_model_answers_a_markdown_image(gateway):
    done = sdk(gateway).chat.completions.create(model="gemini-2.5-flash-image",
                                                messages=[{"role": "user", "content": "draw an otter"}])
    content = done.choices[0].message.content
    assert content.startswith("![image](data:image/png;base64,") and content.endswith(")")
    assert base64.b64decode(content[len("![image](data:image/png;base64,"):-1]).startswith(b"\x89PNG")
