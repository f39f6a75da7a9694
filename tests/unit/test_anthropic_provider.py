"""The Anthropic provider's pieces without sockets: model mapping, cleaning, the hub translation both
ways, the byte-keeping decoder and writer, and the settings' messages."""

from __future__ import annotations

import pytest

from addon.config import AnthropicUpstream, SettingsError, validate
from addon.protocols.anthropic_hub import HubEvents, to_anthropic
from addon.upstream.anthropic_api import AnthropicEvents, PassthroughWriter, clean, upstream_model

SETTINGS = AnthropicUpstream(model_mapping={"claude-opus-4*": "glm-4.6"})


@pytest.mark.parametrize("asked, keep, expected", [
    ("claude-opus-4-1", True, "glm-4.6"), ("claude-3-opus", True, "glm-4.7"), ("claude-haiku-4-5", True, "glm-4.5-air"),
    ("zai:glm-4.5", True, "glm-4.5"), ("kimi-k2", True, "kimi-k2"), ("gemini-2.5-flash", False, "glm-4.7"),
])
def test_upstream_model(asked, keep, expected):
    assert upstream_model(SETTINGS, asked, keep_other=keep) == expected


def test_clean_maps_the_model_and_drops_unsigned_thinking_only():
    body = {"model": "claude-sonnet-4-5", "metadata": None, "max_tokens": 9, "messages": [
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "x"},
                                          {"type": "thinking", "thinking": "y", "signature": "s"},
                                          {"type": "text", "text": "t"}]}]}
    out = clean(body, "glm-4.7")
    assert out["model"] == "glm-4.7" and "metadata" not in out and out["max_tokens"] == 9
    assert [b.get("signature") for b in out["messages"][0]["content"]] == ["s", None]
    assert body["messages"][0]["content"][0] == {"type": "thinking", "thinking": "x"}  # the client's body is untouched


def test_hub_request_to_messages():
    hub = {"systemInstruction": {"parts": [{"text": "Be brief."}]},
           "contents": [{"role": "user", "parts": [{"text": "Weather?"}]},
                        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
                        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                                         "response": {"output": "Rain"}}}]}],
           "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}],
           "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
           "generationConfig": {"maxOutputTokens": 100, "temperature": 0.5, "stopSequences": ["END"],
                                "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2000}}}
    out = to_anthropic(hub, "glm-4.7", stream=True)
    assert out["system"] == "Be brief." and out["stream"] is True and out["stop_sequences"] == ["END"]
    assert out["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "any"} and "temperature" not in out
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2000} and out["max_tokens"] > 2000
    call = out["messages"][1]["content"][0]
    assert out["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": call["id"], "content": "Rain"}


def test_messages_stream_to_hub_events():
    events = HubEvents()
    seen = []
    for doc in [{"type": "message_start", "message": {"usage": {"input_tokens": 7}}},
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
                {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "f"}},
                {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
                {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
                {"type": "content_block_stop", "index": 1},
                {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}]:
        seen += events.event(doc)
    parts = [p for e in seen for p in e["candidates"][0]["content"]["parts"]]
    assert parts == [{"text": "Hi"}, {"functionCall": {"name": "f", "args": {"a": 1}, "id": "t1"}}]
    assert seen[-1]["candidates"][0]["finishReason"] == "STOP"
    assert seen[-1]["usageMetadata"] == {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}
    assert events.event({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}) == [
        {"error": {"code": 529, "status": "overloaded_error", "message": "busy"}}]


def test_pass_through_keeps_bytes_split_anywhere_and_only_renames_the_model():
    wire = (b'event: message_start\ndata: {"type":"message_start","message":{"model":"glm-4.7","usage":{}}}\n\n'
            b': keep-alive\n\n'
            b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"\\"model\\":\\"glm-4.7\\""}}\n\n'
            b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n')
    decoder, writer = AnthropicEvents(passthrough=True), PassthroughWriter("claude-sonnet-4-5", "glm-4.7")
    events = [e for i in range(0, len(wire), 7) for e in decoder.feed(wire[i:i + 7])] + decoder.close()
    assert all("error" not in e for e in events)  # a relayed error event must not end the relay early
    assert b"".join(writer.feed(e) for e in events) == wire.replace(b'"glm-4.7","usage"', b'"claude-sonnet-4-5","usage"')


def test_an_error_before_anything_else_fails_the_attempt():
    decoder = AnthropicEvents(passthrough=True)
    assert decoder.feed(b'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"m"}}\n\n') == [
        {"error": {"code": 429, "status": "rate_limit_error", "message": "m"}}]


def test_settings_say_what_is_wrong():
    with pytest.raises(SettingsError) as e:
        validate({"anthropic": {"dispatch": "always", "base_url": "api.z.ai"}, "mcp": {"web_reader": "x", "other": "y"}})
    text = str(e.value)
    assert "anthropic.dispatch: Input should be 'off', 'exclusive', 'pooled' or 'fallback'" in text
    assert "anthropic.base_url: Value error, must start with http:// or https://" in text
    assert "mcp.web_reader" in text and "mcp.other: unknown key" in text
    ok = validate({"mcp": {"zai_mcp_server": "http://h/mcp/"}})
    assert ok.mcp.url("zai-mcp-server") == "http://h/mcp" and ok.mcp.url("web_reader") == ""
