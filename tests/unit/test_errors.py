import json

from addon.errors import AttemptRecord, ClientError, PoolExhausted, Protocol, render


def test_envelopes():
    err = ClientError("bad 'model'", param="model")
    status, headers, body = render(Protocol.OPENAI, err)
    assert status == 400 and headers["x-should-retry"] == "false"
    assert json.loads(body) == {"error": {"message": "bad 'model'", "type": "invalid_request_error",
                                          "param": "model", "code": None}}
    assert json.loads(render(Protocol.ANTHROPIC, err)[2]) == {
        "type": "error", "error": {"type": "invalid_request_error", "message": "bad 'model'"}}
    assert json.loads(render(Protocol.GEMINI, err)[2]) == {
        "error": {"code": 400, "message": "bad 'model'", "status": "INVALID_ARGUMENT"}}


def test_exhausted_cooling_is_429_with_capped_retry_after():
    err = PoolExhausted("all cooling", retry_after_s=900.2,
                        attempts=[AttemptRecord("key-1", 429, "quota", 900)])
    status, headers, body = render(Protocol.GEMINI, err)
    assert status == 429 and headers["retry-after"] == "120" and "x-should-retry" not in headers
    assert "key-1: 429 quota" in json.loads(body)["error"]["message"]


def test_exhausted_without_accounts_is_503():
    status, headers, _ = render(Protocol.ANTHROPIC, PoolExhausted("no account"))
    assert status == 503 and "retry-after" not in headers
