"""Bad input on the Gemini routes: a clear 4xx in the Gemini envelope, and the gateway keeps serving."""

from __future__ import annotations

import httpx
import pytest

GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
COUNT = "/v1/models/gemini-2.5-flash:countTokens"

CASES = [
    (GEN, b"{not json", 400, "Invalid JSON"),
    (GEN, b"", 400, "empty"),
    (GEN, b"[1, 2]", 400, "expected an object"),
    (GEN, b'{"contents": "hello"}', 400, "'contents'"),
    (GEN, b'{"contents": []}', 400, "must not be empty"),
    (GEN, b'{"contents": [{"parts": "hi"}]}', 400, "contents[0].parts"),
    (GEN, b'{"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}', 400, "contents[0].role"),
    (GEN, b'{"contents": [{"parts": [{"text": 5}]}]}', 400, "contents[0].parts[0].text"),
    (STREAM, b'{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}}', 400,
     "generationConfig.temperature"),
    (STREAM, b'{"contents": [{"parts": [{"text": "x"}]}], "tools": {"a": 1}}', 400, "'tools'"),
    (COUNT, b'{"nothing": 1}', 400, "'contents' or 'generateContentRequest'"),
    ("/v1beta/models/gemini-2.5-flash:fooBar", b'{"contents": []}', 400, "unsupported method 'fooBar'"),
    ("/v1beta/models/gemini-2.5-flash", b'{"contents": []}', 400, "no method"),
    ("/v1beta/v1beta/models/gemini-2.5-flash:generateContent", b"{}", 404, "API version twice"),
    ("/v1beta/models?pageSize=abc", None, 400, "pageSize"),
    ("/v1beta/models?pageToken=forged", None, 400, "pageToken"),
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    from harness import RunningGateway, write_home

    home = write_home(tmp_path_factory.mktemp("bad"), {"api_key": "sk-x", "max_body_mb": 1}, ["good-1"])
    gw = RunningGateway(home).start()
    yield gw
    gw.stop()


@pytest.mark.parametrize("path,body,status,needle", CASES)
def test_bad_input_gets_a_clear_gemini_error(gw, path, body, status, needle):
    if body is None:
        r = httpx.get(gw.url + path, timeout=30)
    else:
        r = httpx.post(gw.url + path, content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert needle in err["message"]
    assert err["code"] == status and err["status"] in ("INVALID_ARGUMENT", "NOT_FOUND")
    assert r.headers["x-should-retry"] == "false"
    ok = httpx.post(gw.url + GEN, json={"contents": [{"parts": [{"text": "still there?"}]}]}, timeout=30)
    assert ok.status_code == 200


def test_huge_body_is_413(gw):
    big = b'{"contents": [{"parts": [{"text": "' + b"a" * (2 * 1024 * 1024) + b'"}]}]}'
    r = httpx.post(gw.url + GEN, content=big, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413 and "max_body_mb" in r.json()["error"]["message"]
    assert len(gw.sim.log) == 0 or all(rec.path != GEN for rec in gw.sim.log[-1:])


def test_nothing_reaches_the_upstream_for_bad_input(gw):
    before = len(gw.sim.log)
    httpx.post(gw.url + GEN, content=b"{bad", timeout=30)
    assert len(gw.sim.log) == before
