"""The Cloud Code provider: goldens from the `cloudcode_*` fixtures to each client protocol (the
upstream bytes split at every byte, unwrapped by the provider's own decoder), the request it
builds, and its base-URL fallback against the simulator over real sockets.
`INTERLOCK_REGOLD=1` rewrites the goldens.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from addon.pool.accounts import Account
from addon.protocols import anthropic_stream, gemini, openai_stream
from addon.upstream.cloudcode import CloudCode, CloudCodeApi, CloudCodeError, CloudCodeEvents, CloudCodeSettings
from addon.upstream.provider import UpstreamCall, send_with_fallback
from goldens import Golden

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
STREAMS = sorted(p.stem for p in UPSTREAM.glob("cloudcode_stream*.sse"))


def decode(chunks: list[bytes]) -> list[dict]:
    d = CloudCodeEvents()
    events = []
    for c in chunks:
        events += d.feed(c)
    return events + d.close()


def renderings(events: list[dict]) -> dict[str, bytes]:
    """Every client protocol's bytes for one upstream stream, by golden file name."""
    g_sse, g_arr = gemini.GeminiStreamWriter(True), gemini.GeminiStreamWriter(False)
    chat = openai_stream.ChatStreamWriter("chatcmpl-golden", 1760000000, "gpt-4o", include_usage=True)
    claude = anthropic_stream.AnthropicStreamWriter("claude-sonnet-4-6", "msg_golden", None)
    out = {"gemini/{}.sse": b"", "gemini/{}.array.json": b"", "openai/{}.chat.sse": b"", "anthropic/{}.sse": b""}
    for e in events:
        out["gemini/{}.sse"] += g_sse.feed(e)
        out["gemini/{}.array.json"] += g_arr.feed(e)
        out["openai/{}.chat.sse"] += chat.feed(e)
        out["anthropic/{}.sse"] += claude.feed(e)
    out["gemini/{}.sse"] += g_sse.close()
    out["gemini/{}.array.json"] += g_arr.close()
    out["openai/{}.chat.sse"] += chat.close()
    out["anthropic/{}.sse"] += claude.close()
    return out


check_golden = Golden(GOLDEN).check


def test_every_cloudcode_fixture_is_covered():
    assert STREAMS == ["cloudcode_stream", "cloudcode_stream_function_call", "cloudcode_stream_thinking"]


@pytest.mark.parametrize("name", STREAMS)
def test_cloudcode_goldens_for_every_client_protocol(name):
    raw = (UPSTREAM / f"{name}.sse").read_bytes()
    events = decode([raw])
    assert events and all("candidates" in e and "response" not in e for e in events)
    whole = renderings(events)
    for pattern, produced in whole.items():
        check_golden(pattern.format(name), produced)
    check_golden(f"gemini/{name}.collected.json",
                 json.dumps(gemini.collect(events), indent=2, ensure_ascii=False).encode() + b"\n")
    check_golden(f"openai/{name}.chat.json", json.dumps(openai_stream.chat_completion(
        events, "chatcmpl-golden", 1760000000, "gpt-4o"), indent=2, ensure_ascii=False).encode() + b"\n")
    for i in range(len(raw) + 1):
        assert renderings(decode([raw[:i], raw[i:]])) == whole, i


def test_the_gemini_client_gets_the_unwrapped_events_not_the_envelope():
    events = decode([(UPSTREAM / "cloudcode_stream.sse").read_bytes()])
    assert not hasattr(events[0], "wire") and events[0]["responseId"] == "kbFhaY2lCr-ZseMPqMiDmAU"
    nonstream = json.loads((UPSTREAM / "cloudcode_nonstream.json").read_text())
    assert CloudCode(CloudCodeSettings(["http://x"], "ua")).unwrap(nonstream) == nonstream["response"]


def test_errors_pass_through_the_decoder():
    raw_error = b'data: {"response": {"candidates": []}}\r\n\r\n{\n  "error": {"code": 503, "status": "UNAVAILABLE"}\n}\n'
    events = decode([raw_error])
    assert events[-1]["error"]["code"] == 503


ACCOUNT = Account("acct", "google_oauth", "ya29.token-abcd", "me", project_id="proj-1")


def provider(**kw) -> CloudCode:
    settings = CloudCodeSettings(["http://a/v1internal", "http://b/v1internal"], "antigravity/1.0 linux/amd64",
                                 {"x-client-name": "antigravity"})
    return CloudCode(settings, request_ids=lambda kind: f"{kind}-fixed", **kw)


def test_the_request_envelope_and_headers():
    hub = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"temperature": 0},
           "systemInstruction": {"parts": [{"text": "be brief"}]}}
    req = provider().request(ACCOUNT, UpstreamCall("gemini-2.5-flash", "stream", hub, session="abc"))
    assert req.url == "http://a/v1internal:streamGenerateContent?alt=sse"
    assert req.fallback_urls == ("http://b/v1internal:streamGenerateContent?alt=sse",)
    assert req.headers["authorization"] == "Bearer ya29.token-abcd" and req.headers["x-client-name"] == "antigravity"
    assert req.headers["user-agent"] == "antigravity/1.0 linux/amd64"
    body = json.loads(req.body)
    assert list(body) == ["project", "requestId", "request", "model", "userAgent", "requestType"]
    assert body["project"] == "proj-1" and body["requestId"] == "agent-fixed" and body["userAgent"] == "antigravity"
    assert list(body["request"]) == ["systemInstruction", "generationConfig", "sessionId", "contents"]
    again = json.loads(provider().request(ACCOUNT, UpstreamCall("gemini-2.5-flash", "stream", hub, session="abc")).body)
    other = json.loads(provider().request(ACCOUNT, UpstreamCall("gemini-2.5-flash", "stream", hub, session="xyz")).body)
    assert again["request"]["sessionId"] == body["request"]["sessionId"] != other["request"]["sessionId"]
    assert body["request"]["sessionId"].startswith("-") and body["request"]["sessionId"][1:].isdigit()
    image = json.loads(provider().request(ACCOUNT, UpstreamCall("gemini-3.1-flash-image", "stream", hub)).body)
    assert image["requestType"] == "image_gen"


def test_count_tokens_and_redirected_model_ids():
    p = provider(redirects={"claude-opus-4-5-thinking": "claude-opus-4-6-thinking"})
    req = p.request(ACCOUNT, UpstreamCall("claude-opus-4-5-thinking", "countTokens", {"contents": [{"parts": [{"text": "x"}]}]}))
    assert req.url.endswith(":countTokens")
    assert json.loads(req.body) == {"request": {"model": "models/claude-opus-4-6-thinking",
                                                "contents": [{"parts": [{"text": "x"}]}]}}
    assert json.loads(p.request(ACCOUNT, UpstreamCall("claude-opus-4-5-thinking", "stream", {"contents": []})).body
                      )["model"] == "claude-opus-4-6-thinking"


async def test_base_url_fallback_over_real_sockets(sim):
    async with httpx.AsyncClient() as c:
        access = (await c.post(f"{sim.url}/token", data={"grant_type": "refresh_token", "client_id": "c",
                                                          "refresh_token": "1//rt-fallback"})).json()["access_token"]
    account = Account("a", "google_oauth", access, "me")
    closed = "http://127.0.0.1:9/v1internal"
    settings = CloudCodeSettings([closed, f"{sim.url}/down/v1internal", f"{sim.url}/missing/v1internal",
                                  f"{sim.url}/prod/v1internal"], "ua")
    api = CloudCodeApi(CloudCode(settings))
    try:
        load = await api.call(account, "loadCodeAssist", {"metadata": {"ideType": "ANTIGRAVITY"}})
        assert load["cloudaicompanionProject"].startswith("sim-project-")
        paths = [r.path for r in sim.log if "v1internal" in r.path]
        assert paths == ["/down/v1internal:loadCodeAssist", "/missing/v1internal:loadCodeAssist",
                         "/prod/v1internal:loadCodeAssist"]
        bad = Account("b", "google_oauth", "ya29.unknown", "other")
        with pytest.raises(CloudCodeError) as e:  # 401 belongs to the account: no fallback
            await api.call(bad, "loadCodeAssist", {})
        assert e.value.status == 401
        assert [r.path for r in sim.log if "v1internal" in r.path][3:] == ["/down/v1internal:loadCodeAssist",
                                                                            "/missing/v1internal:loadCodeAssist",
                                                                            "/prod/v1internal:loadCodeAssist"]
        only_down = CloudCode(CloudCodeSettings([f"{sim.url}/down/v1internal"], "ua"))
        resp = await send_with_fallback(api.client, only_down.build(account, "loadCodeAssist", {}))
        assert resp.status_code == 503  # the last base's answer is the answer
        await resp.aclose()
    finally:
        await api.aclose()
