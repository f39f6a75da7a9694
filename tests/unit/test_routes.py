import pytest

from addon.errors import NotFound, Protocol
from addon.routes import MethodNotAllowed, guess_protocol, match

CASES = [
    ("GET", "/healthz", "health"), ("GET", "/health", "health"), ("HEAD", "/", "head"), ("HEAD", "/v1", "head"),
    ("GET", "/v1/models", "list_models"), ("GET", "/v1/models/claude", "list_models_anthropic"),
    ("POST", "/v1/models/detect", "detect_model"), ("GET", "/v1/models/gemini-2.5-flash", "get_model"),
    ("POST", "/v1/api/event_logging/batch", "telemetry"), ("GET", "/v1beta/models", "list_models_gemini"),
    ("GET", "/v1beta/models/gemini-2.5-flash", "get_model_gemini"),
    ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "gemini"),
    ("POST", "/v1/models/gemini-2.5-flash:countTokens", "gemini"),
    ("POST", "/v1/chat/completions", "chat"), ("POST", "/v1/completions", "completions"),
    ("POST", "/v1/responses", "responses"), ("GET", "/v1/responses/resp_1", "response_by_id"),
    ("POST", "/v1/images/generations", "images"), ("POST", "/v1/audio/transcriptions", "audio"),
    ("POST", "/v1/messages?beta=true", "messages"), ("POST", "/v1/messages/count_tokens", "count_tokens"),
]


@pytest.mark.parametrize("method,path,handler", CASES)
def test_every_spec_path_is_routed(method, path, handler):
    assert match(method, path, {}).handler == handler


def test_later_capabilities_are_named():
    route = match("POST", "/v1/responses/compact", {})
    assert route.protocol is Protocol.OPENAI and route.capability == "Responses compaction"
    assert match("POST", "/v1/responses", {}).capability is None
    assert match("DELETE", "/responses/resp_1", {}).handler == "response_by_id"
    assert match("GET", "/v1/responses", {}).handler == "responses_websocket"
    assert match("POST", "/v1/messages?beta=true", {}).capability is None
    assert match("POST", "/v1/chat/completions", {}).capability is None
    assert match("POST", "/v1beta/models/m:generateContent", {}).capability is None


def test_gemini_params():
    route = match("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", {})
    assert route.params == {"version": "v1beta", "model": "gemini-2.5-flash", "method": "streamGenerateContent"}


@pytest.mark.parametrize("path,hint", [("/v1/v1/messages", "drop '/v1'"),
                                       ("/v1beta/v1beta/models/x:generateContent", "API version twice"),
                                       ("/v1/chat/completions/responses", "base URL already ends")])
def test_base_url_mistakes_get_a_hint(path, hint):
    with pytest.raises(NotFound, match=hint):
        match("POST", path, {})


def test_unknown_path_and_wrong_method():
    with pytest.raises(NotFound, match="no route for GET /nope"):
        match("GET", "/nope", {})
    with pytest.raises(MethodNotAllowed) as e:
        match("GET", "/v1/messages", {})
    assert e.value.status == 405 and e.value.headers["allow"] == "POST"


def test_protocol_guess():
    assert guess_protocol("/x", {"anthropic-version": "2023-06-01"}) is Protocol.ANTHROPIC
    assert guess_protocol("/v1beta/x", {}) is Protocol.GEMINI
    assert guess_protocol("/x", {}) is Protocol.OPENAI
