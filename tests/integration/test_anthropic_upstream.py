"""Anthropic-compatible accounts (z.ai and others) through the gateway, against a second simulator in
its Anthropic mode, with the official SDKs over real sockets: pass-through for Anthropic clients
(bytes relayed, only the model name put back), the hub for OpenAI clients, and the dispatch modes."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from harness import API_KEY, RunningGateway, write_home
from upstreams import add_anthropic_accounts

CLIENT_MODEL = "claude-sonnet-4-5"
UPSTREAM_MODEL = "glm-4.7"  # the default for sonnet names
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def start(tmp_path, zai):
    """start(mode, google_keys=[…], zai_keys=[…]) → a running gateway whose Anthropic accounts use `zai`."""
    started: list[RunningGateway] = []

    def run(mode: str, google_keys: list[str] | None = None, zai_keys: list[str] | None = None,
            settings: dict | None = None, options: dict | None = None) -> RunningGateway:
        home = write_home(tmp_path / f"home{len(started)}", {"api_key": API_KEY, **(settings or {})},
                          google_keys or [])
        with open(home / "config.toml", "a") as f:
            f.write(f'[anthropic]\ndispatch = "{mode}"\n')
        add_anthropic_accounts(home, zai.url, ["zai-key-1"] if zai_keys is None else zai_keys)
        zai.sim.reset()
        gw = RunningGateway(home, options)
        started.append(gw)
        return gw.start()

    yield run
    for gw in started:
        gw.stop()


def sdk(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=API_KEY, max_retries=0)


def expected_relay(wire: bytes) -> bytes:
    """What the client must get: the upstream's bytes, with the client's model in `message_start`."""
    return wire.replace(f'"model":"{UPSTREAM_MODEL}"'.encode(), f'"model":"{CLIENT_MODEL}"'.encode(), 1)


def post_stream(gw, body: dict) -> httpx.Response:
    return httpx.post(gw.url + "/v1/messages", json={**body, "stream": True}, timeout=30,
                      headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})


def test_exclusive_stream_reaches_the_client_byte_identical(start, zai):
    gw = start("exclusive")
    body = {"model": CLIENT_MODEL, "max_tokens": 512, "messages": [{"role": "user", "content": "Say hello [[sim chunks=5]]"}]}
    r = post_stream(gw, body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert zai.sim.anthropic.answers, "the upstream was not asked"
    assert r.content == expected_relay(zai.sim.anthropic.answers[-1])
    assert f'"model":"{CLIENT_MODEL}"'.encode() in r.content
    sent = zai.sim.log[-1]
    assert (sent.path, sent.api_key, sent.request["model"]) == ("/v1/messages", "zai-key-1", UPSTREAM_MODEL)
    assert sent.request["messages"] == body["messages"]  # the body is not re-encoded through the hub


def test_exclusive_sdk_stream_with_a_tool_and_non_stream(start, zai):
    gw = start("exclusive")
    c = sdk(gw)
    kw = dict(model=CLIENT_MODEL, max_tokens=512, tools=[WEATHER],
              messages=[{"role": "user", "content": "Weather in Paris? Use get_weather"}])
    with c.messages.stream(**kw) as stream:
        final = stream.get_final_message()
    assert final.model == CLIENT_MODEL and final.stop_reason == "tool_use"
    call = final.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather" and isinstance(call.input["city"], str)
    plain = c.messages.create(**kw)
    assert plain.model == CLIENT_MODEL and plain.content[-1].input == call.input
    assert json.loads(zai.sim.anthropic.answers[-1])["model"] == UPSTREAM_MODEL
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}
    second = c.messages.create(model=CLIENT_MODEL, max_tokens=512, tools=[WEATHER], messages=[
        kw["messages"][0], {"role": "assistant", "content": final.content}, {"role": "user", "content": [result]}])
    assert "Sunny, 21 C" in second.content[-1].text


def test_count_tokens_is_forwarded(start, zai):
    gw = start("exclusive")
    messages = [{"role": "user", "content": "How many tokens is this sentence?"}]
    count = sdk(gw).messages.count_tokens(model=CLIENT_MODEL, messages=messages)
    direct = httpx.post(zai.url + "/v1/messages/count_tokens", headers={"x-api-key": "k"},
                        json={"model": UPSTREAM_MODEL, "messages": messages}).json()
    assert count.input_tokens == direct["input_tokens"]
    assert zai.sim.log[-2].path == "/v1/messages/count_tokens" and zai.sim.log[-2].api_key == "zai-key-1"


def test_upstream_refusal_before_the_first_event_fails_over_to_the_next_key(start, zai):
    gw = start("exclusive", zai_keys=["sim-500", "zai-key-2"])
    r = post_stream(gw, {"model": CLIENT_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert r.content == expected_relay(zai.sim.anthropic.answers[-1])
    assert sorted(rec.api_key for rec in zai.sim.log) == ["sim-500", "zai-key-2"]


def test_a_mid_stream_error_event_is_relayed_as_sent(start, zai):
    gw = start("exclusive", zai_keys=["sim-midstream-error3"])
    r = post_stream(gw, {"model": CLIENT_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    assert r.content == expected_relay(zai.sim.anthropic.answers[-1])
    assert r.content.endswith(b"\n\n") and b"event: error\n" in r.content


def test_upstream_bad_request_reaches_the_sdk_as_such(start):
    gw = start("exclusive")
    with pytest.raises(anthropic.BadRequestError) as e:
        sdk(gw).messages.create(model=CLIENT_MODEL, max_tokens=64, messages=[
            {"role": "user", "content": "hi"},
            {"role": "tool", "content": "no such role"}])
    assert "role" in str(e.value)


def test_model_mapping_table_and_glm_names(start, zai):
    gw = start("exclusive", settings={})
    sdk(gw).messages.create(model="glm-4.5-air", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert zai.sim.log[-1].request["model"] == "glm-4.5-air"
    sdk(gw).messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert zai.sim.log[-1].request["model"] == "glm-4.5-air"


@pytest.mark.parametrize("google_keys", [[], ["sim-503"]], ids=["no-google-account", "google-failing"])
def test_fallback_serves_when_google_cannot(start, zai, google_keys):
    gw = start("fallback", google_keys=google_keys)
    r = post_stream(gw, {"model": CLIENT_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["x-account-email"] == "zai-1"
    assert r.content == expected_relay(zai.sim.anthropic.answers[-1])
    msg = sdk(gw).messages.create(model=CLIENT_MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert msg.model == CLIENT_MODEL


def test_fallback_leaves_a_healthy_google_pool_alone(start, zai):
    gw = start("fallback", google_keys=["good-key-1"])
    r = post_stream(gw, {"model": CLIENT_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["x-account-email"] == "key-1"
    assert zai.sim.anthropic.answers == []


def test_off_never_uses_anthropic_accounts(start, zai):
    gw = start("off", google_keys=["good-key-1"])
    r = post_stream(gw, {"model": CLIENT_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["x-account-email"] == "key-1"
    assert zai.sim.log == []


def oai(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=API_KEY, max_retries=0)


OAI_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.mark.parametrize("mode", ["pooled", "fallback"])
def test_openai_chat_is_served_by_the_anthropic_provider(start, zai, mode):
    gw = start(mode)
    c = oai(gw)
    done = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Say hello"}])
    assert "Say hello" in done.choices[0].message.content and done.choices[0].finish_reason == "stop"
    assert zai.sim.log[-1].request["model"] == UPSTREAM_MODEL and zai.sim.log[-1].path == "/v1/messages"
    chunks = list(c.chat.completions.create(model="gpt-4o", stream=True, tools=[OAI_TOOL], messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris? Use get_weather"}]))
    calls = [tc for ch in chunks for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices]
    assert calls and calls[0].function.name == "get_weather"
    args = json.loads("".join(tc.function.arguments or "" for tc in calls))
    assert isinstance(args["city"], str)
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["tool_calls"]
    sent = zai.sim.log[-1].request
    assert sent["system"] == "Be brief." and sent["tools"][0]["name"] == "get_weather" and sent["stream"] is True
    follow = c.chat.completions.create(model="gpt-4o", stream=True, tools=[OAI_TOOL], messages=[
        {"role": "user", "content": "Weather in Paris? Use get_weather"},
        {"role": "assistant", "tool_calls": [{"id": calls[0].id, "type": "function", "function": {
            "name": "get_weather", "arguments": json.dumps(args)}}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 21 C"}])
    text = "".join(ch.choices[0].delta.content or "" for ch in follow if ch.choices)
    assert "Sunny, 21 C" in text


def test_no_secret_reaches_the_flows(start, zai, tmp_path):
    """The account key travels upstream only: the saved flows (client flows and one per attempt) hold it masked."""
    saved = tmp_path / "saved.flows"
    key, client_key = "zai-secret-key-0123456789", "sk-client-secret-abcdef"
    gw = start("exclusive", zai_keys=["sim-500_" + key, key], options={"save_stream_file": str(saved)},
               settings={"api_key": client_key, "auth_mode": "strict"})
    c = anthropic.Anthropic(base_url=gw.url, api_key=client_key, max_retries=0)
    with c.messages.stream(model=CLIENT_MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
        assert s.get_final_message().content[0].text
    assert c.messages.count_tokens(model=CLIENT_MODEL, messages=[{"role": "user", "content": "hi"}]).input_tokens
    assert {r.api_key for r in zai.sim.log} == {"sim-500_" + key, key}
    gw.stop()
    raw = saved.read_bytes()
    assert raw and b"/v1/messages" in raw
    for secret in (key, client_key):
        assert secret.encode() not in raw


def test_gemini_sdk_is_served_by_the_anthropic_provider(start, zai):
    from google import genai
    from google.genai import types

    gw = start("fallback", google_keys=["sim-503"])
    c = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta"))
    text = "".join(chunk.text or "" for chunk in c.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Say hello to Gemini"))
    assert "Say hello to Gemini" in text
    assert zai.sim.log[-1].path == "/v1/messages" and zai.sim.log[-1].request["model"] == UPSTREAM_MODEL
    count = c.models.count_tokens(model="gemini-2.5-flash", contents="Count these words")
    assert count.total_tokens and zai.sim.log[-1].path == "/v1/messages/count_tokens"


def test_pooled_rotates_between_google_and_anthropic_accounts(start, zai):
    gw = start("pooled", google_keys=["good-key-1"])
    served = []
    for prompt in ("first conversation", "second conversation"):  # two sessions: each may go anywhere
        r = post_stream(gw, {"model": CLIENT_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]})
        assert r.status_code == 200
        served.append(r.headers["x-account-email"])
        if served[-1] == "zai-1":
            assert r.content == expected_relay(zai.sim.anthropic.answers[-1])
    assert sorted(served) == ["key-1", "zai-1"]


def test_count_tokens_estimates_when_the_upstream_cannot_count(start):
    gw = start("exclusive", zai_keys=["sim-404"])
    r = httpx.post(gw.url + "/v1/messages/count_tokens", headers={"x-api-key": API_KEY},
                   json={"model": CLIENT_MODEL, "messages": [{"role": "user", "content": "count me please"}]})
    assert r.status_code == 200 and r.json()["input_tokens"] > 0
    assert r.headers["x-interlock-token-count"].startswith("estimate; no account could count")


def test_exclusive_without_an_anthropic_account_says_so(start):
    gw = start("exclusive", google_keys=["good-key-1"], zai_keys=[])
    with pytest.raises(anthropic.APIStatusError) as e:
        sdk(gw).messages.create(model=CLIENT_MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code in (503, 529) and "anthropic_key account" in str(e.value)
