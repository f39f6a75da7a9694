import itertools

import pytest

from addon.errors import AuthError
from addon.security import StartupRefused, authorize, check_startup

KEY = "sk-secret-1234567890"
LOCATIONS = {
    "bearer": ({"authorization": f"Bearer {KEY}"}, {}),
    "raw-authorization": ({"authorization": KEY}, {}),
    "x-api-key": ({"x-api-key": KEY}, {}),
    "x-goog-api-key": ({"x-goog-api-key": KEY}, {}),
    "query": ({}, {"key": KEY}),
}
PATHS = {"health": "/healthz", "api": "/v1beta/models/gemini-2.5-flash:generateContent",
         "internal": "/internal/warmup"}


def allowed(mode, path, headers, query, method="POST"):
    try:
        authorize(mode, KEY, method, path, headers, query)
        return True
    except AuthError:
        return False


@pytest.mark.parametrize("mode,location,path", list(itertools.product(
    ["off", "strict", "all_except_health"], LOCATIONS, PATHS)))
def test_right_key_passes_everywhere(mode, location, path):
    headers, query = LOCATIONS[location]
    assert allowed(mode, PATHS[path], headers, query)


@pytest.mark.parametrize("mode,path", list(itertools.product(["off", "strict", "all_except_health"], PATHS)))
def test_missing_key(mode, path):
    open_ = mode == "off" or (mode == "all_except_health" and path == "health")
    assert allowed(mode, PATHS[path], {}, {}) is open_


@pytest.mark.parametrize("mode,location,path", list(itertools.product(
    ["strict", "all_except_health"], LOCATIONS, PATHS)))
def test_wrong_key(mode, location, path):
    headers, query = LOCATIONS[location]
    headers = {k: v.replace(KEY, "sk-wrong") for k, v in headers.items()}
    query = {k: v.replace(KEY, "sk-wrong") for k, v in query.items()}
    open_ = mode == "all_except_health" and path == "health"
    assert allowed(mode, PATHS[path], headers, query) is open_


def test_options_preflight_passes_and_messages_name_the_problem():
    assert allowed("strict", "/v1/messages", {}, {}, method="OPTIONS")
    with pytest.raises(AuthError, match="missing API key"):
        authorize("strict", KEY, "GET", "/v1/models", {}, {})
    with pytest.raises(AuthError, match="invalid API key"):
        authorize("strict", KEY, "GET", "/v1/models", {"x-api-key": "nope"}, {})


def test_empty_configured_key_never_matches():
    with pytest.raises(AuthError):
        authorize("strict", "", "GET", "/v1/models", {"authorization": "Bearer "}, {})


def test_lan_rules():
    assert check_startup("off", "", ["127.0.0.1"], False, False) == []
    with pytest.raises(StartupRefused, match="allow_lan_access"):
        check_startup("all_except_health", KEY, ["0.0.0.0"], False, False)
    with pytest.raises(StartupRefused, match="allow_lan_access"):
        check_startup("off", KEY, [""], False, False)
    assert check_startup("all_except_health", KEY, ["0.0.0.0"], True, False) == []
    with pytest.raises(StartupRefused, match="allow_insecure_lan"):
        check_startup("off", KEY, ["0.0.0.0"], True, False)
    assert "WITHOUT authentication" in check_startup("off", KEY, ["0.0.0.0"], True, True)[0]
    with pytest.raises(StartupRefused, match="api_key is empty"):
        check_startup("strict", "", ["127.0.0.1"], False, False)
