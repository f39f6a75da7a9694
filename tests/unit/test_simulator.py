"""The simulator's wire format against the captured Gemini API samples: framing, key order,
usage rules, error bodies, routes. Everything goes over real sockets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest


FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures" / "upstream"
KEY = {"x-goog-api-key": "demo-key-1"}
HI = {"contents": [{"role": "user", "parts": [{"text": "Explain AI in a few words"}]}]}
THINK = {**HI, "generationConfig": {"thinkingConfig": {"includeThoughts": True,
                                                        "thinkingBudget": 1024}}}
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
UNARY = "/v1beta/models/gemini-2.5-flash:generateContent"




def sse_lines(raw: bytes) -> list[str]:
    assert raw.endswith(b"\r\n\r\n")
    chunks = raw.decode().split("\r\n\r\n")
    assert chunks[-1] == ""
    for chunk in chunks[:-1]:
        assert chunk.startswith("data: ") and "\n" not in chunk and "\r" not in chunk
    return [c[len("data: "):] for c in chunks[:-1]]


def fixture_events(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sse_lines((FIXTURES / name).read_bytes())]


def shape(value: Any) -> Any:
    """Key order at every level, value types at the leaves."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def google_compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ": "), ensure_ascii=False)


async def sse(client: httpx.AsyncClient, body: dict[str, Any], path: str = STREAM) -> list[dict]:
    r = await client.post(path, params={"alt": "sse"}, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/event-stream"
    return [json.loads(line) for line in sse_lines(r.content)]


def test_fixture_lines_follow_the_style_the_checks_assume():
    for name in ("gemini_stream_text.sse", "gemini_stream_thinking.sse",
                 "gemini_stream_function_call.sse"):
        for line in sse_lines((FIXTURES / name).read_bytes()):
            assert google_compact(json.loads(line)) == line


async def test_sse_framing_is_byte_faithful(client):
    r = await client.post(STREAM, params={"alt": "sse"}, json=HI)
    lines = sse_lines(r.content)
    assert len(lines) > 1
    assert b"[DONE]" not in r.content
    for line in lines:
        assert google_compact(json.loads(line)) == line
    assert r.headers["transfer-encoding"] == "chunked"


async def test_text_stream_has_the_fixture_key_order(client):
    ours = await sse(client, HI)
    theirs = fixture_events("gemini_stream_text.sse")
    assert shape(ours[0]) == shape(theirs[0])
    assert shape(ours[-1]) == shape(theirs[-1])
    assert all("finishReason" not in e["candidates"][0] for e in ours[:-1])
    assert ours[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_thinking_stream_has_the_fixture_shapes_and_usage_rules(client):
    ours = await sse(client, THINK)
    theirs = fixture_events("gemini_stream_thinking.sse")
    thought_events = [e for e in ours if e["candidates"][0]["content"]["parts"][0].get("thought")]
    assert thought_events == ours[:len(thought_events)] and len(thought_events) >= 1
    assert shape(thought_events[0]) == shape(theirs[0])
    assert "candidatesTokenCount" not in thought_events[-1]["usageMetadata"]
    first_answer = ours[len(thought_events)]["candidates"][0]["content"]["parts"][0]
    assert list(first_answer) == ["text", "thoughtSignature"]
    final = {**ours[-1], "candidates": [{**ours[-1]["candidates"][0], "content": {
        "parts": [{"text": "x"}], "role": "model"}}]}
    assert shape(final) == shape(theirs[-1])
    for event in ours:
        for part in event["candidates"][0]["content"]["parts"]:
            assert part["text"]
        assert event["usageMetadata"]["thoughtsTokenCount"] > 0


async def test_function_call_answers_have_the_fixture_shapes(client):
    weather = {"name": "get_weather", "parameters": {
        "type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}
    body = {**THINK, "tools": [{"functionDeclarations": [weather]}]}
    ours = await sse(client, body)
    theirs = fixture_events("gemini_stream_function_call.sse")
    assert shape(ours[0]) == shape(theirs[0])
    assert shape(ours[-1]) == shape(theirs[-1])
    unary = (await client.post(UNARY, json=body)).json()
    fixture = json.loads((FIXTURES / "gemini_nonstream_function_call.json").read_text())
    assert shape(unary) == shape(fixture)


async def test_usage_totals_run_and_ids_repeat(client):
    events = await sse(client, THINK)
    usage = [e["usageMetadata"] for e in events]
    for key in ("totalTokenCount", "thoughtsTokenCount"):
        assert [u[key] for u in usage] == sorted(u[key] for u in usage)
    counts = [u.get("candidatesTokenCount", 0) for u in usage]
    assert counts == sorted(counts) and counts[-1] > 0
    assert len({e["responseId"] for e in events}) == 1
    assert {e["modelVersion"] for e in events} == {"gemini-2.5-flash"}
    for u in usage:
        assert u["promptTokensDetails"] == [{"modality": "TEXT",
                                             "tokenCount": u["promptTokenCount"]}]


async def test_cached_directive_reports_cached_prompt_tokens(client):
    body = {"contents": [{"role": "user", "parts": [{"text": "Explain AI in a few words [[sim cached=3]]"}]}]}
    usage = [e["usageMetadata"] for e in await sse(client, body)]
    assert {u["cachedContentTokenCount"] for u in usage} == {3}
    assert list(usage[-1])[:4] == ["promptTokenCount", "candidatesTokenCount", "totalTokenCount",
                                   "cachedContentTokenCount"], "Gemini's key order"
    tiny = {"contents": [{"role": "user", "parts": [{"text": "hi [[sim cached=99]]"}]}]}
    u = (await client.post(UNARY, json=tiny)).json()["usageMetadata"]
    assert u["cachedContentTokenCount"] == u["promptTokenCount"], "never more than the prompt"
    assert "cachedContentTokenCount" not in (await client.post(UNARY, json=HI)).json()["usageMetadata"]


async def test_unary_is_pretty_and_shaped_like_the_fixture(client):
    r = await client.post(UNARY, json=HI)
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    body = r.json()
    assert r.content == (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()
    assert shape(body) == shape(json.loads((FIXTURES / "gemini_nonstream.json").read_text()))


async def test_unary_text_equals_the_streamed_text(client):
    streamed = "".join(e["candidates"][0]["content"]["parts"][0]["text"]
                       for e in await sse(client, HI))
    unary = (await client.post(UNARY, json=HI)).json()
    assert unary["candidates"][0]["content"]["parts"][0]["text"] == streamed
    assert unary["usageMetadata"]["candidatesTokenCount"] > 0


async def test_stream_without_alt_is_a_streamed_json_array(client):
    r = await client.post(STREAM, json=HI)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    raw = r.content.decode()
    assert raw.startswith("[{\n") and raw.endswith("}\n]")
    elements = json.loads(raw)
    assert raw.count("\n,\r\n") == len(elements) - 1 > 0
    streamed = await sse(client, HI)
    assert [e["candidates"][0]["content"] for e in elements] == \
        [e["candidates"][0]["content"] for e in streamed]


async def test_v1_routes_answer_like_v1beta(client):
    events = await sse(client, HI, STREAM.replace("v1beta", "v1"))
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    r = await client.post(UNARY.replace("v1beta", "v1"), json=HI)
    assert r.status_code == 200


async def test_count_tokens_accepts_both_bodies_and_matches_generation(client):
    path = "/v1beta/models/gemini-2.5-flash:countTokens"
    direct = (await client.post(path, json={"contents": HI["contents"]})).json()
    wrapped = (await client.post(path, json={"generateContentRequest": {
        "model": "models/gemini-2.5-flash", **HI}})).json()
    assert list(direct) == ["totalTokens", "promptTokensDetails"]
    assert direct == wrapped
    generated = (await client.post(UNARY, json=HI)).json()
    assert generated["usageMetadata"]["promptTokenCount"] == direct["totalTokens"]


async def test_model_list_pages_through_the_catalogue(client):
    names, token, pages = [], None, 0
    while True:
        params = {"pageSize": 3, **({"pageToken": token} if token else {})}
        body = (await client.get("/v1beta/models", params=params)).json()
        names += [m["name"] for m in body["models"]]
        pages += 1
        token = body.get("nextPageToken")
        if not token:
            break
    assert pages > 1 and len(names) == len(set(names))
    for wanted in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite",
                   "gemini-2.0-flash", "gemini-3-pro-preview", "gemini-3-flash-preview"):
        assert f"models/{wanted}" in names
    fixture = json.loads((FIXTURES / "gemini_models_list.json").read_text())["models"]
    full = (await client.get("/v1beta/models")).json()
    assert "nextPageToken" not in full
    ours = {m["name"]: m for m in full["models"]}
    for model in fixture:
        assert shape(ours[model["name"]]) == shape(model)


async def test_get_model_serves_invented_gemini_names_only(client):
    r = await client.get("/v1beta/models/gemini-2.5-pro")
    assert r.json()["name"] == "models/gemini-2.5-pro"
    assert (await client.get("/v1beta/models/gemini-3.5-flash-lite")).status_code == 200
    assert (await client.get("/v1beta/models/gpt-4o")).status_code == 404


def error_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def test_invalid_key_answers_the_captured_400_byte_for_byte(sim):
    async with httpx.AsyncClient(base_url=sim.url) as c:
        r = await c.post(UNARY, json=HI, headers={"x-goog-api-key": "invalid-key"})
        assert r.status_code == 400 and r.content == error_body("error_400.json")
        r = await c.post(UNARY, params={"key": "invalidXYZ"}, json=HI)
        assert r.status_code == 400


async def test_missing_key_is_permission_denied(sim):
    async with httpx.AsyncClient(base_url=sim.url) as c:
        r = await c.post(UNARY, json=HI)
    assert r.status_code == 403
    assert shape(r.json()) == shape(json.loads(error_body("error_503.json")))
    assert r.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "unregistered callers" in r.json()["error"]["message"]


async def test_key_in_query_string_is_accepted(sim):
    async with httpx.AsyncClient(base_url=sim.url) as c:
        r = await c.post(UNARY, params={"key": "demo"}, json=HI)
    assert r.status_code == 200
    assert sim.log[-1].api_key == "demo"


async def test_unknown_model_is_the_captured_404(client):
    r = await client.post("/v1beta/models/llama-x:generateContent", json=HI)
    assert r.status_code == 404
    fixture = json.loads(error_body("error_404.json"))
    assert shape(r.json()) == shape(fixture)
    pattern = re.escape(fixture["error"]["message"]).replace(
        re.escape("gemini-2.5-flash-native-audio-preview-09-2025"), "llama-x")
    assert re.fullmatch(pattern, r.json()["error"]["message"])
    r = await client.post("/v1beta/models/gemini-3.5-flash-lite:generateContent", json=HI)
    assert r.status_code == 200


@pytest.mark.parametrize("key,fixture", [("sim-500", "error_500.json"),
                                         ("sim-503", "error_503.json"),
                                         ("sim-401", "error_401.json")])
async def test_injected_errors_are_the_captured_bodies(sim, key, fixture):
    async with httpx.AsyncClient(base_url=sim.url, headers={"x-goog-api-key": key}) as c:
        r = await c.post(UNARY, json=HI)
    assert r.content == error_body(fixture)
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    if key == "sim-401":
        assert r.headers["www-authenticate"].startswith('Bearer realm="https://accounts.google')


async def test_rate_limit_has_the_captured_429_shape(sim):
    async with httpx.AsyncClient(base_url=sim.url,
                                 headers={"x-goog-api-key": "sim-429-retry47s"}) as c:
        r = await c.post(UNARY, json=HI)
    ours, fixture = r.json(), json.loads(error_body("error_429.json"))
    assert r.status_code == 429
    for body in (ours, fixture):
        del body["error"]["details"][1]["violations"][1:]
    assert shape(ours) == shape(fixture)
    assert ours["error"]["details"][2]["retryDelay"] == "47s"
    assert ours["error"]["message"].startswith(fixture["error"]["message"].split("\n")[0])


async def test_bad_json_and_unknown_fields_are_invalid_argument(client):
    r = await client.post(UNARY, content=b'{"contents": [', headers={"content-type": "x"})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert r.json()["error"]["message"].startswith("Invalid JSON payload received.")
    leaked = {"contents": [{"role": "user", "parts": [{"text": "hi",
                                                       "cache_control": {"type": "x"}}]}]}
    r = await client.post(UNARY, json=leaked)
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert message.startswith('Invalid JSON payload received. Unknown name "cache_control" at '
                              "'contents[0].parts[0]'")
    assistant = {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}
    r = await client.post(UNARY, json=assistant)
    assert r.json()["error"]["message"] == "Please use a valid role: user, model."
    r = await client.post(UNARY, json={"contents": []})
    assert "contents is not specified" in r.json()["error"]["message"]
    snake = {"contents": HI["contents"], "generation_config": {"max_output_tokens": 100}}
    assert (await client.post(UNARY, json=snake)).status_code == 200
