"""Anthropic Messages request → hub request: translation rules, validation, and every request
Claude Code sent in the captures (fixtures/clients/claude-code*.jsonl)."""

import json
from pathlib import Path

import pytest

from addon.errors import ClientError
from addon.protocols import anthropic_request, schema
from addon.protocols.signatures import SignatureCache
from addon.simulator import validation

CLIENTS = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "clients"
GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4-6"


def hub(doc, target=GEMINI, cache=None, **kw):
    return anthropic_request.to_hub(doc, target, cache or SignatureCache(), **kw)


def base(messages, **extra):
    return {"model": "claude-opus-4-8", "max_tokens": 1024, "messages": messages, **extra}


def refused(doc, **kw) -> ClientError:
    with pytest.raises(ClientError) as e:
        hub(doc, **kw)
    assert e.value.status == 400
    return e.value


def test_system_blocks_and_system_messages_join_the_system_instruction():
    doc = base([{"role": "user", "content": "hi"}, {"role": "system", "content": "late rule"}],
               system=[{"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"},
                       {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}],
               context_management={"edits": []})
    out = hub(doc).body
    assert out["systemInstruction"]["parts"] == [{"text": "You are helpful."}, {"text": "late rule"}]
    assert out["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert "cache_control" not in json.dumps(out) and "context_management" not in json.dumps(out)
    assert validation.check(out) is None


def test_adjacent_same_role_turns_merge_and_images_become_inline_data():
    doc = base([{"role": "user", "content": "look"},
                {"role": "system", "content": "between"},
                {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                          "data": "iVBORw0KGgo="}}]}])
    assert hub(doc).body["contents"] == [{"role": "user", "parts": [
        {"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}]


def tool_loop(result_block=None, thinking=None):
    assistant = ([thinking] if thinking else []) + [
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/tmp/a"}}]
    user = [result_block or {"type": "tool_result", "tool_use_id": "toolu_1", "content": "A"}]
    return [{"role": "user", "content": "read /tmp/a"}, {"role": "assistant", "content": assistant},
            {"role": "user", "content": user}]


def test_tool_use_and_result_keep_ids_and_resolve_names():
    out = hub(base(tool_loop())).body["contents"]
    assert out[1]["parts"][-1] == {"functionCall": {"name": "Read", "args": {"file_path": "/tmp/a"}, "id": "toolu_1"}}
    assert out[2]["parts"] == [{"functionResponse": {"name": "Read", "id": "toolu_1", "response": {"content": "A"}}}]


def test_error_results_and_images_in_results():
    block = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
             "content": [{"type": "text", "text": "no such file"},
                         {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AA=="}}]}
    parts = hub(base(tool_loop(block))).body["contents"][2]["parts"]
    assert parts[0]["functionResponse"]["response"] == {"error": "no such file"}
    assert parts[1] == {"inlineData": {"mimeType": "image/jpeg", "data": "AA=="}}


def test_missing_tool_results_are_synthesised():
    messages = tool_loop()[:2] + [{"role": "user", "content": "never mind"}]
    parts = hub(base(messages)).body["contents"][2]["parts"]
    assert parts[0]["functionResponse"]["response"] == {"error": anthropic_request.INTERRUPTED}
    assert parts[1] == {"text": "never mind"}
    last = hub(base(tool_loop()[:2])).body["contents"]
    assert last[-1]["role"] == "user" and "functionResponse" in last[-1]["parts"][0]


def test_tool_result_without_its_tool_use_is_refused():
    doc = base([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}])
    err = refused(doc)
    assert "messages.0.content.0" in err.message and "toolu_9" in err.message


@pytest.mark.parametrize("doc, field", [
    ({"model": "m", "max_tokens": 5}, "messages"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"max_tokens": 5, "messages": []}, "model"),
    (base([{"role": "user", "content": [{"type": "hologram"}]}]), "messages.0.content.0.type"),
    (base([{"role": "robot", "content": "x"}]), "messages.0.role"),
    (base([{"role": "user", "content": 5}]), "messages.0.content"),
    (base([{"role": "user", "content": "x"}], max_tokens="many"), "max_tokens"),
    (base([{"role": "user", "content": "x"}], thinking={"type": "sometimes"}), "thinking.type"),
    (base([{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}]),
     "messages.0.content.0.source.type"),
])
def test_bad_input_names_the_field(doc, field):
    err = refused(doc)
    assert err.param == field and err.message.startswith(field)


def test_generation_settings():
    doc = base([{"role": "user", "content": "x"}], temperature=0.2, top_p=0.9, top_k=5, stop_sequences=["END"],
               max_tokens=64000, metadata={"user_id": '{"session_id":"abc"}'},
               output_config={"format": {"type": "json_schema", "schema": {
                   "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                   "properties": {"title": {"type": "string"}}, "required": ["title"], "additionalProperties": False}}})
    out = hub(doc, output_limit=8192)
    config = out.body["generationConfig"]
    assert config["maxOutputTokens"] == 8192 and config["temperature"] == 0.2 and config["topP"] == 0.9
    assert config["topK"] == 5 and config["stopSequences"] == ["END"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == {"type": "object", "properties": {"title": {"type": "string"}},
                                            "required": ["title"], "additionalProperties": False}


def test_tools_and_tool_choice():
    doc = base([{"role": "user", "content": "x"}], tool_choice={"type": "tool", "name": "Read"}, tools=[
        {"name": "Read", "description": "Read a file", "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
            "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer", "exclusiveMinimum": 0,
                                                                     "maximum": 9007199254740991}},
            "required": ["file_path"]}},
        {"name": "Noop", "input_schema": {"type": "object", "properties": {}}}])
    out = hub(doc).body
    read, noop = out["tools"][0]["functionDeclarations"]
    assert read["parameters"] == {"type": "OBJECT", "properties": {
        "file_path": {"type": "STRING"},
        "limit": {"type": "INTEGER", "minimum": 0, "maximum": 9007199254740991, "description": "(greater than 0)"}},
        "required": ["file_path"]}
    assert noop == {"name": "Noop"}
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Read"]}}


def test_schema_refs_nullable_const_and_all_of():
    got = schema.to_gemini({"type": "object", "$defs": {"P": {"type": "object", "properties": {
        "next": {"$ref": "#/$defs/P"}, "name": {"type": ["string", "null"]}}}},
        "properties": {"p": {"$ref": "#/$defs/P"}, "k": {"const": "fixed"},
                       "u": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                       "a": {"allOf": [{"properties": {"x": {"type": "string"}}}, {"required": ["x"]}]}}})
    props = got["properties"]
    assert props["p"]["properties"]["next"]["type"] == "OBJECT"
    assert props["p"]["properties"]["name"] == {"type": "STRING", "nullable": True}
    assert props["k"] == {"enum": ["fixed"], "type": "STRING"}
    assert props["u"] == {"type": "INTEGER", "nullable": True}
    assert props["a"] == {"properties": {"x": {"type": "STRING"}}, "required": ["x"], "type": "OBJECT"}


SIG = "sig-" + "x" * 60


def test_claude_targets_keep_trusted_thinking_and_drop_the_rest():
    cache = SignatureCache()
    cache.remember_thinking(CLAUDE, "plan", SIG)
    thinking = {"type": "enabled", "budget_tokens": 2048}
    trusted = hub(base(tool_loop(thinking={"type": "thinking", "thinking": "plan", "signature": SIG}),
                       thinking=thinking, max_tokens=8192), CLAUDE, cache)
    assert trusted.thinking
    assert trusted.body["contents"][1]["parts"][0] == {"text": "plan", "thought": True, "thoughtSignature": SIG}
    foreign = hub(base(tool_loop(thinking={"type": "thinking", "thinking": "plan", "signature": "forged" * 10}),
                       thinking=thinking, max_tokens=8192), CLAUDE, cache)
    assert not any(p.get("thought") for p in foreign.body["contents"][1]["parts"])
    assert not foreign.thinking  # a tool turn without signed thinking: Claude would refuse thinking
    assert "thinkingConfig" not in foreign.body.get("generationConfig", {})


def test_gemini_targets_get_the_signature_back_on_the_function_call():
    cache = SignatureCache()
    cache.remember_thinking(GEMINI, "plan", SIG)
    out = hub(base(tool_loop(thinking={"type": "thinking", "thinking": "plan", "signature": SIG}),
                   thinking={"type": "adaptive"}), GEMINI, cache).body
    model = out["contents"][1]["parts"]
    assert not any(p.get("thought") for p in model)
    assert model[-1]["thoughtSignature"] == SIG
    assert out["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": -1}


def test_call_signatures_are_restored_from_the_cache_by_tool_id():
    cache = SignatureCache()
    cache.remember_call(GEMINI, "toolu_1", SIG)
    assert hub(base(tool_loop()), GEMINI, cache).body["contents"][1]["parts"][-1]["thoughtSignature"] == SIG
    assert "thoughtSignature" not in hub(base(tool_loop()), "gemini-2.5-pro-x", cache).body["contents"][1]["parts"][-1]


def test_signature_cache_expires_and_is_per_family():
    now = [0.0]
    cache = SignatureCache(ttl_s=10, clock=lambda: now[0])
    cache.remember_thinking(GEMINI, "t", SIG)
    assert cache.trusted("gemini-2.5-flash-preview", "t", SIG)
    assert not cache.trusted(CLAUDE, "t", SIG) and not cache.trusted(GEMINI, "t2", SIG)
    now[0] = 11
    assert not cache.trusted(GEMINI, "t", SIG)


def test_thinking_modes():
    msgs = [{"role": "user", "content": "x"}]
    assert hub(base(msgs, thinking={"type": "disabled"})).body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    cfg = hub(base(msgs, thinking={"type": "adaptive"}, output_config={"effort": "low"}), "gemini-3-pro-preview")
    assert cfg.body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "low"}
    enabled = hub(base(msgs, thinking={"type": "enabled", "budget_tokens": 99999}))
    assert enabled.body["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 24576
    assert "thinkingConfig" not in hub(base(msgs, thinking={"type": "adaptive"}), thinks=False).body["generationConfig"]


def captured_requests():
    for name in sorted(CLIENTS.glob("claude-code*.jsonl")):
        for line in name.read_text().splitlines():
            record = json.loads(line)
            if record.get("method") == "POST" and "messages" in (record.get("body") or {}) and "/messages" in record["path"]:
                yield pytest.param(record, id=f"{name.stem}-{record['seq']}")


@pytest.mark.parametrize("record", list(captured_requests()))
@pytest.mark.parametrize("target", [GEMINI, CLAUDE])
def test_every_captured_claude_code_request_translates(record, target):
    counting = record["path"].endswith("/count_tokens")
    out = hub(record["body"], target, counting=counting, output_limit=65536)
    body = anthropic_request.count_tokens_body(out.body, target)["generateContentRequest"] if counting else out.body
    assert validation.check(body) is None, body
    assert "cache_control" not in json.dumps(body)


@pytest.mark.parametrize("target", [GEMINI, CLAUDE])
async def test_the_simulator_accepts_every_captured_request(client, target):
    for param in captured_requests():
        record = param.values[0]
        counting = record["path"].endswith("/count_tokens")
        out = hub(record["body"], target, counting=counting, output_limit=65536)
        if counting:
            r = await client.post(f"/v1beta/models/{target}:countTokens",
                                  json=anthropic_request.count_tokens_body(out.body, target))
        else:
            r = await client.post(f"/v1beta/models/{target}:streamGenerateContent?alt=sse", json=out.body)
        assert r.status_code == 200, (param.id, r.text[:500])
