"""What the simulator says: determinism, directives, function calls, structured output,
thinking and MAX_TOKENS, all checked over real sockets."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from addon.simulator import Simulator

STREAM = "/v1beta/models/{}:streamGenerateContent"
UNARY = "/v1beta/models/{}:generateContent"


@pytest.fixture
async def client():
    sim = Simulator(interval_ms=0)
    await sim.start()
    async with httpx.AsyncClient(base_url=sim.url, headers={"x-goog-api-key": "k"},
                                 timeout=10) as c:
        yield c
    await sim.close()


def user(*texts: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": t} for t in texts]}


async def events(client, body, model="gemini-2.5-flash") -> list[dict[str, Any]]:
    r = await client.post(STREAM.format(model), params={"alt": "sse"}, json=body)
    assert r.status_code == 200, r.text
    return [json.loads(c[6:]) for c in r.text.split("\r\n\r\n") if c]


async def unary(client, body, model="gemini-2.5-flash") -> dict[str, Any]:
    r = await client.post(UNARY.format(model), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def parts(evts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for e in evts for p in e["candidates"][0].get("content", {}).get("parts", [])]


def answer(evts: list[dict[str, Any]]) -> str:
    return "".join(p.get("text", "") for p in parts(evts) if not p.get("thought"))


def tool(name: str, required: dict[str, str], key: str = "parametersJsonSchema") -> dict:
    return {"name": name, "description": name, key: {
        "type": "object", "properties": {n: {"type": t} for n, t in required.items()},
        "required": list(required)}}


GEMINI_CLI_TOOLS = [{"functionDeclarations": [
    tool("update_topic", {"topic": "string"}), tool("list_directory", {"dir_path": "string"}),
    tool("read_file", {"file_path": "string"}), tool("grep_search", {"pattern": "string"}),
    tool("glob", {"pattern": "string"}), tool("google_web_search", {"query": "string"}),
    tool("enter_plan_mode", {"reason": "string"}), tool("invoke_agent", {"prompt": "string"}),
]}]


async def test_same_request_same_answer_and_the_prompt_is_quoted(client):
    body = {"contents": [user("What is the capital of France?")]}
    first, second = await events(client, body), await events(client, body)
    assert answer(first) == answer(second)
    assert "What is the capital of France?" in answer(first)
    assert first[0]["responseId"] != second[0]["responseId"]


async def test_chunk_directives_shape_the_stream_and_are_not_quoted(client):
    body = {"contents": [user("Tell me a story [[sim chunks=50 chunk_chars=7 interval_ms=0]]")]}
    evts = await events(client, body)
    texts = [p["text"] for p in parts(evts)]
    assert len(texts) == 50 and all(len(t) == 7 for t in texts)
    assert "[[sim" not in answer(evts)
    assert [e["candidates"][0].get("finishReason") for e in evts] == [None] * 49 + ["STOP"]


async def test_reply_directive_and_session_context_wrappers(client):
    body = {"contents": [user("<session_context>cwd /x, read_file exists</session_context>",
                              'say hi [[sim reply="Hello from the sim" chunks=3]]')],
            "tools": GEMINI_CLI_TOOLS}
    evts = await events(client, body)
    assert answer(evts) == "Hello from the sim"
    assert len(evts) == 3 and not any("functionCall" in p for p in parts(evts))


async def test_bad_directive_is_a_400(client):
    r = await client.post(UNARY.format("gemini-2.5-flash"),
                          json={"contents": [user("[[sim chunkz=3]]")]})
    assert r.status_code == 400 and "chunkz" in r.json()["error"]["message"]


async def test_gemini_cli_tools_and_a_greeting_give_text(client):
    body = {"contents": [user("say hi")], "tools": GEMINI_CLI_TOOLS}
    evts = await events(client, body)
    assert answer(evts) and not any("functionCall" in p for p in parts(evts))


async def test_named_function_is_called_with_the_path_from_the_prompt(client):
    body = {"contents": [user("Use read_file on /tmp/x/notes.txt and tell me the word")],
            "tools": GEMINI_CLI_TOOLS,
            "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    evts = await events(client, body)
    last = evts[-1]["candidates"][0]
    call_part = last["content"]["parts"][0]
    assert list(call_part) == ["functionCall", "thoughtSignature"]
    assert call_part["functionCall"] == {"name": "read_file",
                                         "args": {"file_path": "/tmp/x/notes.txt"}}
    assert last["finishReason"] == "STOP"
    assert last["finishMessage"] == "Model generated function call(s)."
    assert all(p.get("thought") for p in parts(evts[:-1]))


async def test_function_call_round_trip_quotes_the_tool_output(client):
    ask = user("What does /tmp/x/notes.txt say?")
    weather = [{"functionDeclarations": [tool("read_file", {"file_path": "string"},
                                              key="parameters")]}]
    call = (await unary(client, {"contents": [ask], "tools": weather}))["candidates"][0]
    call_part = call["content"]["parts"][0]
    assert call_part["functionCall"]["args"] == {"file_path": "/tmp/x/notes.txt"}
    follow_up = {"contents": [ask, {"role": "model", "parts": [call_part]}, {
        "role": "user", "parts": [{"functionResponse": {
            "name": "read_file", "response": {"output": "The secret word is PAPAYA.\n"}}}]}],
        "tools": weather}
    evts = await events(client, follow_up)
    assert "The secret word is PAPAYA." in answer(evts)
    assert evts[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_gemini_3_function_calls_carry_an_id(client):
    body = {"contents": [user("weather please")], "tools": [{"functionDeclarations": [
        tool("get_weather", {"city": "STRING", "days": "INTEGER", "metric": "BOOLEAN"},
             key="parameters")]}]}
    call = (await unary(client, body, "gemini-3-pro-preview"))["candidates"][0]["content"]
    function_call = call["parts"][0]["functionCall"]
    assert list(function_call) == ["name", "args", "id"]
    assert function_call["args"]["days"] == 1 and function_call["args"]["metric"] is True
    assert isinstance(function_call["args"]["city"], str)
    old = (await unary(client, body))["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert "id" not in old


async def test_tool_mode_none_never_calls(client):
    body = {"contents": [user("call read_file now")], "tools": GEMINI_CLI_TOOLS,
            "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}
    assert not any("functionCall" in p for p in parts(await events(client, body)))


def valid(value: Any, schema: dict[str, Any]) -> bool:
    """A small, independent JSON Schema check: type, properties, required, items, enum."""
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = str(schema.get("type", "")).lower()
    checks = {"object": dict, "array": list, "string": str, "boolean": bool,
              "integer": int, "number": (int, float)}
    if kind in checks and not isinstance(value, checks[kind]):
        return False
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "object":
        props = schema.get("properties", {})
        return all(n in value for n in schema.get("required", [])) and all(
            valid(v, props[k]) for k, v in value.items() if k in props)
    if kind == "array":
        return all(valid(v, schema.get("items", {})) for v in value)
    return True


ROUTER_SCHEMA = {"type": "OBJECT", "properties": {"complexity_reasoning": {"type": "STRING"},
                                                  "complexity_score": {"type": "INTEGER"}},
                 "required": ["complexity_reasoning", "complexity_score"]}
NESTED_SCHEMA = {"type": "object", "required": ["title", "tags", "meta"], "properties": {
    "title": {"type": "string"}, "kind": {"type": "string", "enum": ["a", "b"]},
    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    "meta": {"type": "object", "properties": {"score": {"type": "number"},
                                               "ok": {"type": "boolean"}},
             "required": ["score", "ok"]}}}


@pytest.mark.parametrize("field,schema", [("responseJsonSchema", ROUTER_SCHEMA),
                                          ("responseSchema", ROUTER_SCHEMA),
                                          ("responseJsonSchema", NESTED_SCHEMA)])
async def test_json_mode_returns_schema_valid_json(client, field, schema):
    body = {"contents": [user("Classify this request"), user("it is simple")],
            "generationConfig": {"responseMimeType": "application/json", field: schema}}
    text = (await unary(client, body, "gemini-3.5-flash-lite"))["candidates"][0]["content"][
        "parts"][0]["text"]
    value = json.loads(text)
    assert valid(value, schema) and set(value) >= set(schema["required"])
    assert json.loads(answer(await events(client, body))) == value


async def test_small_max_output_tokens_truncates_with_max_tokens(client):
    body = {"contents": [user("write a long essay")],
            "generationConfig": {"maxOutputTokens": 3}}
    result = (await unary(client, body))["candidates"][0]
    assert result["finishReason"] == "MAX_TOKENS"
    assert 0 < len(result["content"]["parts"][0]["text"]) <= 12
    evts = await events(client, body)
    assert evts[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


async def test_thinking_directive_and_non_thinking_models(client):
    config = {"thinkingConfig": {"includeThoughts": True}}
    body = {"contents": [user("hi [[sim thoughts=4]]")], "generationConfig": config}
    assert sum(1 for p in parts(await events(client, body)) if p.get("thought")) == 4
    evts = await events(client, body, "gemini-2.0-flash")
    assert not any(p.get("thought") for p in parts(evts))
    assert "thoughtsTokenCount" not in evts[-1]["usageMetadata"]
    off = {"contents": [user("hi")], "generationConfig": {"thinkingConfig": {
        "includeThoughts": True, "thinkingBudget": 0}}}
    assert not any(p.get("thought") for p in parts(await events(client, off)))


async def test_malformed_function_call_finish_is_a_bare_candidate(client):
    evts = await events(client, {"contents": [user("x [[sim finish=MALFORMED_FUNCTION_CALL]]")]})
    assert evts[-1]["candidates"] == [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}]


async def test_claude_names_think_and_sign_their_thoughts(client):
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    r = await client.post("/v1beta/models/claude-sonnet-4-6:generateContent", json=body)
    parts = r.json()["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] and parts[0]["thoughtSignature"] and "thoughtSignature" not in parts[1]


async def test_signatures_it_never_issued_are_refused(client):
    first = await client.post("/v1beta/models/gemini-2.5-flash:generateContent", json={
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}}})
    issued = first.json()["candidates"][0]["content"]["parts"][1]["thoughtSignature"]

    def turn(signature):
        return {"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                             {"role": "model", "parts": [{"text": "hello", "thoughtSignature": signature}]},
                             {"role": "user", "parts": [{"text": "again"}]}]}
    assert (await client.post("/v1beta/models/gemini-2.5-flash:generateContent", json=turn(issued))).status_code == 200
    forged = await client.post("/v1beta/models/gemini-2.5-flash:generateContent", json=turn("Zm9yZ2Vk"))
    assert forged.status_code == 400 and forged.json()["error"]["message"] == "Corrupted thought signature."
    sentinel = "skip_thought_signature_validator"
    assert (await client.post("/v1beta/models/gemini-3-flash:generateContent", json=turn(sentinel))).status_code == 200
    claude = await client.post("/v1beta/models/claude-sonnet-4-6:generateContent", json=turn(sentinel))
    assert claude.status_code == 400 and "Invalid `signature`" in claude.json()["error"]["message"]
