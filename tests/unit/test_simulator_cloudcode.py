"""The simulator's Cloud Code mode and OAuth endpoints, compared with the shared fixtures' shapes."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "tell me a joke"}]}]}


def fixture(name: str):
    return json.loads((UPSTREAM / name).read_text())


def shape(doc):
    """Key structure with values reduced to their types, lists to their first element."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shape(doc[0])] if doc else []
    return type(doc).__name__ if not isinstance(doc, (int, float)) or isinstance(doc, bool) else "number"


def keys_within(small, big) -> bool:
    """Every key path of `small` exists in `big` (the fixture)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and keys_within(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and all(keys_within(s, big[0]) for s in small) if big else not small
    return True


async def token(client: httpx.AsyncClient, refresh: str) -> str:
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                          "client_id": "sim-client"})
    assert r.status_code == 200
    return r.json()["access_token"]


async def setup(client: httpx.AsyncClient, refresh: str = "1//rt-a") -> tuple[dict, str]:
    access = await token(client, refresh)
    headers = {"authorization": f"Bearer {access}"}
    project = (await client.post("/v1internal:loadCodeAssist", json={"metadata": {"ideType": "ANTIGRAVITY"}},
                                 headers=headers)).json().get("cloudaicompanionProject")
    return headers, project


def envelope(project: str, model: str = "gemini-2.5-flash", request: dict | None = None) -> dict:
    return {"project": project, "requestId": "agent/1/abcd", "request": {**(request or PROMPT), "sessionId": "-1"},
            "model": model, "userAgent": "antigravity", "requestType": "agent"}


async def test_stream_is_crlf_framed_envelopes_with_a_trace_header(client):
    headers, project = await setup(client)
    r = await client.post("/v1internal:streamGenerateContent?alt=sse", json=envelope(project), headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    frames = r.content.split(b"\r\n\r\n")
    assert frames[-1] == b"" and all(f.startswith(b"data: ") for f in frames[:-1])
    events = [json.loads(f[6:]) for f in frames[:-1]]
    trace = r.headers["x-cloudaicompanion-trace-id"]
    assert len(trace) == 16 and all(e["traceId"] == trace for e in events)
    sample = json.loads((UPSTREAM / "cloudcode_stream_function_call.sse").read_bytes().split(b"\r\n")[0][6:])
    assert set(events[0]) == set(sample) == {"response", "traceId", "metadata"}
    assert events[-1]["response"]["candidates"][0]["finishReason"] == "STOP"
    assert keys_within(shape({k: events[-1]["response"][k] for k in ("modelVersion", "responseId")}),
                       shape(fixture("cloudcode_nonstream.json")["response"]))


async def test_unary_and_count_tokens(client):
    headers, project = await setup(client)
    r = await client.post("/v1internal:generateContent", json=envelope(project), headers=headers)
    doc = r.json()
    assert r.status_code == 200 and set(doc) == set(fixture("cloudcode_nonstream.json")) == {"response", "traceId"}
    assert doc["traceId"] == r.headers["x-cloudaicompanion-trace-id"]
    assert r.text.endswith("}\n") and r.text.startswith('{\n  "response"')
    r = await client.post("/v1internal:countTokens", headers=headers,
                          json={"request": {"model": "models/gemini-2.5-flash", "contents": PROMPT["contents"]}})
    assert r.status_code == 200 and r.json()["totalTokens"] > 0


async def test_claude_models_come_through_the_gemini_envelope_with_signed_thoughts(client):
    headers, project = await setup(client)
    request = {**PROMPT, "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}}
    r = await client.post("/v1internal:streamGenerateContent?alt=sse", headers=headers,
                          json=envelope(project, "claude-sonnet-4-6", request))
    events = [json.loads(f[6:])["response"] for f in r.content.split(b"\r\n\r\n")[:-1]]
    parts = [p for e in events for c in e["candidates"] for p in c.get("content", {}).get("parts", [])]
    thoughts = [p for p in parts if p.get("thought")]
    assert thoughts and all(p.get("thoughtSignature") for p in thoughts)
    assert not any(p.get("thoughtSignature") for p in parts if not p.get("thought"))
    assert events[0]["responseId"].startswith("msg_vrtx_")


async def test_unknown_or_missing_tokens_get_401(client):
    for headers in ({}, {"authorization": "Bearer ya29.never-issued"}):
        r = await client.post("/v1internal:generateContent", json=envelope("p"), headers=headers)
        assert r.status_code == 401 and r.json() == fixture("error_401.json")
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_stream_errors_are_arrays_and_mid_stream_errors_raw_objects(client):
    headers, project = await setup(client, "1//rt-capacity1")
    r = await client.post("/v1internal:streamGenerateContent?alt=sse", json=envelope(project), headers=headers)
    assert r.status_code == 429 and r.text.startswith("[{\n") and r.text.endswith("}\n]")
    assert shape(r.json()) == shape(fixture("error_429_cloudcode_capacity_stream.json"))
    r = await client.post("/v1internal:streamGenerateContent?alt=sse", json=envelope(project), headers=headers)
    assert r.status_code == 200
    r = await client.post("/v1internal:streamGenerateContent?alt=sse", headers=headers,
                          json=envelope(project, "no-such-model"))
    assert r.status_code == 404 and shape(r.json()[0]) == shape(fixture("error_404_cloudcode.json"))
    faulty = {"authorization": f"Bearer {await token(client, '1//rt-m#sim-midstream-error1')}"}
    project = (await client.post("/v1internal:loadCodeAssist", json={}, headers=faulty)).json()["cloudaicompanionProject"]
    r = await client.post("/v1internal:streamGenerateContent?alt=sse", json=envelope(project, request={
        "contents": [{"role": "user", "parts": [{"text": "hi [[sim chunks=3]]"}]}]}), headers=faulty)
    first, rest = r.content.split(b"\r\n\r\n", 1)
    assert first.startswith(b"data: ") and rest.startswith(b'{\n  "error": {')
    assert json.loads(rest)["error"]["status"] == "UNAVAILABLE"


async def test_quota_exhaustion_and_the_quota_endpoints(client):
    headers, project = await setup(client, "1//rt-exhausted2h")
    r = await client.post("/v1internal:generateContent", json=envelope(project), headers=headers)
    assert r.status_code == 429 and shape(r.json()) == shape(fixture("error_429_cloudcode_quota.json"))
    meta = r.json()["error"]["details"][0]["metadata"]
    assert meta["quotaResetDelay"].startswith(("1h59m", "2h")) and meta["quotaResetTimeStamp"].endswith("Z")
    models = (await client.post("/v1internal:fetchAvailableModels", json={"project": project}, headers=headers)).json()
    assert keys_within(shape({k: models[k] for k in ("defaultAgentModelId", "deprecatedModelIds")}),
                       shape(fixture("fetch_available_models.json")))
    pro = models["models"]["gemini-2.5-pro"]
    assert "remainingFraction" not in pro["quotaInfo"] and pro["quotaInfo"]["resetTime"].endswith("Z")
    assert keys_within(shape({k: v for k, v in pro.items() if k in fixture("fetch_available_models.json")["models"]["gemini-2.5-pro"]}),
                       shape(fixture("fetch_available_models.json")["models"]["gemini-2.5-pro"]))
    quota = (await client.post("/v1internal:retrieveUserQuota", json={"project": project}, headers=headers)).json()
    assert shape(quota) == shape(fixture("retrieve_user_quota.json"))

    headers, project = await setup(client, "1//rt-fresh")
    await client.post("/v1internal:generateContent", json=envelope(project, "gemini-2.5-pro"), headers=headers)
    models = (await client.post("/v1internal:fetchAvailableModels", json={}, headers=headers)).json()["models"]
    assert models["gemini-2.5-pro"]["quotaInfo"]["remainingFraction"] == pytest.approx(0.99)
    assert models["gemini-2.5-flash"]["quotaInfo"]["remainingFraction"] == 1.0


async def test_an_account_without_project_is_onboarded_by_a_polled_operation(client):
    headers, project = await setup(client, "1//rt-noproject")
    assert project is None
    load = (await client.post("/v1internal:loadCodeAssist", json={}, headers=headers)).json()
    assert "currentTier" not in load and any(t.get("isDefault") for t in load["allowedTiers"])
    assert keys_within(shape(load), shape(fixture("load_code_assist.json")))
    r = await client.post("/v1internal:generateContent", json=envelope("anything"), headers=headers)
    assert r.status_code == 403
    bad = await client.post("/v1internal:onboardUser", json={"tierId": "free-tier", "cloudaicompanionProject": "x"},
                            headers=headers)
    assert bad.status_code == 400
    op = (await client.post("/v1internal:onboardUser", json={"tierId": "free-tier", "metadata": {}},
                            headers=headers)).json()
    assert op["done"] is False and op["name"].startswith("operations/")
    polls = []
    while not polls or not polls[-1]["done"]:
        polls.append((await client.get(f"/v1internal/{op['name']}", headers=headers)).json())
    assert len(polls) == 2 and shape(polls[-1]) == shape(fixture("onboard_user_operation.json"))
    project = polls[-1]["response"]["cloudaicompanionProject"]["id"]
    load = (await client.post("/v1internal:loadCodeAssist", json={}, headers=headers)).json()
    assert load["cloudaicompanionProject"] == project and load["currentTier"]["id"] == "free-tier"
    r = await client.post("/v1internal:generateContent", json=envelope(project), headers=headers)
    assert r.status_code == 200


async def test_path_prefixes_imitate_a_down_or_missing_host(client):
    headers, project = await setup(client)
    down = await client.post("/down/v1internal:generateContent", json=envelope(project), headers=headers)
    missing = await client.post("/missing/v1internal:generateContent", json=envelope(project), headers=headers)
    fine = await client.post("/prod/v1internal:generateContent", json=envelope(project), headers=headers)
    assert (down.status_code, missing.status_code, fine.status_code) == (503, 404, 200)


async def test_unknown_envelope_fields_are_rejected(client):
    headers, project = await setup(client)
    r = await client.post("/v1internal:generateContent", json={**envelope(project), "bogus": 1}, headers=headers)
    assert r.status_code == 400 and "bogus" in r.json()["error"]["message"]


async def test_login_flow_with_pkce_and_userinfo(client):
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect = "http://127.0.0.1:9/cb"
    r = await client.get("/o/oauth2/v2/auth", params={
        "client_id": "sim-client", "redirect_uri": redirect, "response_type": "code", "scope": "openid",
        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", "access_type": "offline",
        "prompt": "consent", "login_hint": "noproject"})
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert r.headers["location"].startswith(redirect) and query["state"] == ["st"]
    form = {"grant_type": "authorization_code", "code": query["code"][0], "client_id": "sim-client",
            "redirect_uri": redirect, "code_verifier": "w" * 64}
    assert (await client.post("/token", data=form)).json()["error"] == "invalid_grant"  # the code is spent too
    r = await client.get("/o/oauth2/v2/auth", params={
        "client_id": "sim-client", "redirect_uri": redirect, "response_type": "code", "state": "s2",
        "code_challenge": challenge, "code_challenge_method": "S256", "access_type": "offline"})
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    doc = (await client.post("/token", data={**form, "code": code, "code_verifier": verifier})).json()
    assert doc["refresh_token"].startswith("1//sim-") and set(fixture("oauth_token.json")) <= set(doc)
    info = (await client.get("/oauth2/v2/userinfo", headers={"authorization": f"Bearer {doc['access_token']}"})).json()
    assert info["email"].endswith("@example.com") and info["verified_email"] is True
    bad = await client.get("/o/oauth2/v2/auth", params={"client_id": "sim-client", "redirect_uri": "https://evil/cb",
                                                        "response_type": "code", "code_challenge": challenge,
                                                        "code_challenge_method": "S256"})
    assert bad.status_code == 400
