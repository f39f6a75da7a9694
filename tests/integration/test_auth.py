"""Auth modes × key locations × health/non-health paths, over real sockets; LAN binding rules."""

from __future__ import annotations

import itertools

import httpx
import pytest

from harness import API_KEY

GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
BODY = {"contents": [{"parts": [{"text": "hi"}]}]}
LOCATIONS = {
    "bearer": lambda k: ({"authorization": f"Bearer {k}"}, {}),
    "authorization": lambda k: ({"authorization": k}, {}),
    "x-api-key": lambda k: ({"x-api-key": k}, {}),
    "x-goog-api-key": lambda k: ({"x-goog-api-key": k}, {}),
    "query": lambda k: ({}, {"key": k}),
    "none": lambda k: ({}, {}),
}
MODES = ["off", "strict", "all_except_health", "auto"]


@pytest.fixture(scope="module", params=MODES)
def gw(request, tmp_path_factory):
    """One gateway per auth mode, one at a time (mitmproxy routes flows through a process-global master)."""
    from harness import RunningGateway, write_home

    mode = request.param
    home = write_home(tmp_path_factory.mktemp(mode), {"api_key": API_KEY, "auth_mode": mode}, ["good-1"])
    running = RunningGateway(home).start()
    running.mode = mode
    yield running
    running.stop()


def call(gw, path, headers, params):
    if path == GEN:
        return httpx.post(gw.url + path, json=BODY, headers=headers, params=params, timeout=30)
    return httpx.get(gw.url + path, headers=headers, params=params, timeout=30)


@pytest.mark.parametrize("location,path,right", [
    (loc, path, right) for loc, path, right in itertools.product(LOCATIONS, ["/healthz", GEN], [True, False])
    if loc != "none" or right])
def test_auth_matrix(gw, location, path, right):
    mode = gw.mode
    headers, params = LOCATIONS[location](API_KEY if right else "sk-wrong-key")
    r = call(gw, path, headers, params)
    effective = "off" if mode == "auto" else mode  # auto on loopback without LAN access = off
    open_path = effective == "off" or (effective == "all_except_health" and path == "/healthz")
    keyed = right and location != "none"
    if open_path or keyed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 401
        assert r.headers["x-should-retry"] == "false"
        err = r.json()["error"]
        expected = "missing API key" if location == "none" else "invalid API key"
        assert expected in err["message"]
        if path == GEN:
            assert err["status"] == "UNAUTHENTICATED"


def test_anthropic_caller_gets_anthropic_envelope(gw):
    r = httpx.post(gw.url + "/v1/messages", json={}, headers={"anthropic-version": "2023-06-01"})
    if gw.mode in ("off", "auto"):
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    else:
        assert r.status_code == 401 and r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "authentication_error"


def test_cors_preflight_always_passes(gw):
    r = httpx.options(gw.url + "/v1/messages", headers={"origin": "http://x"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"


def test_refuses_lan_without_allow_lan_access(start_gateway):
    with pytest.raises(Exception, match="allow_lan_access"):
        start_gateway(listen_host="0.0.0.0")


def test_refuses_lan_with_auth_off_unless_insecure_is_explicit(start_gateway):
    with pytest.raises(Exception, match="allow_insecure_lan"):
        start_gateway(settings={"allow_lan_access": True, "auth_mode": "off"}, listen_host="0.0.0.0")


def test_lan_access_turns_auth_on_in_auto_mode(start_gateway):
    gw = start_gateway(settings={"allow_lan_access": True}, listen_host="0.0.0.0")
    assert httpx.get(gw.url + "/healthz").status_code == 200
    assert httpx.get(gw.url + "/v1/models").status_code == 401
    assert httpx.get(gw.url + "/v1/models", headers={"x-api-key": API_KEY}).status_code == 200


def test_refuses_auth_on_with_empty_key(start_gateway):
    with pytest.raises(Exception, match="api_key is empty"):
        start_gateway(settings={"auth_mode": "strict", "api_key": ""})
