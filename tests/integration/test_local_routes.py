"""Answers the gateway gives itself, in each protocol's shape."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest


def test_health_and_head(gateway):
    r = httpx.get(gateway.url + "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["version"]
    assert httpx.get(gateway.url + "/health").json()["status"] == "ok"
    for path in ("/", "/v1"):
        assert httpx.head(gateway.url + path).status_code == 200


def test_model_lists_in_three_shapes(gateway):
    models = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x").models.list()
    ids = [m.id for m in models]
    assert "gemini-2.5-flash" in ids
    page = anthropic.Anthropic(base_url=gateway.url, api_key="x").models.list()
    assert "gemini-2.5-flash" in [m.id for m in page.data]
    claude = httpx.get(gateway.url + "/v1/models/claude").json()
    assert claude["data"][0]["type"] == "model"
    gem = httpx.get(gateway.url + "/v1/models", headers={"x-goog-api-key": "x"}).json()
    assert "models/gemini-2.5-flash" in [m["name"] for m in gem["models"]]
    one = httpx.get(gateway.url + "/v1beta/models/gemini-2.5-flash").json()
    assert one["name"] == "models/gemini-2.5-flash" and "generateContent" in one["supportedGenerationMethods"]
    assert openai.OpenAI(base_url=gateway.url + "/v1", api_key="x").models.retrieve("gpt-4o").id == "gpt-4o"


def test_gemini_list_pages(gateway):
    first = httpx.get(gateway.url + "/v1beta/models", params={"pageSize": 3}).json()
    assert len(first["models"]) == 3 and first["nextPageToken"]
    second = httpx.get(gateway.url + "/v1beta/models",
                       params={"pageSize": 3, "pageToken": first["nextPageToken"]}).json()
    assert not {m["name"] for m in first["models"]} & {m["name"] for m in second["models"]}


def test_detect(gateway):
    r = httpx.post(gateway.url + "/v1/models/detect", json={"model": "gpt-4o"})
    assert r.json()["mapped_model"] == "gemini-2.5-flash" and r.json()["type"] == "agent"
    bad = httpx.post(gateway.url + "/v1/models/detect", json={})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "model"


def test_telemetry_sink(gateway):
    for path in ("/v1/api/event_logging", "/v1/api/event_logging/batch"):
        assert httpx.post(gateway.url + path, json={"events": []}).status_code == 200


@pytest.mark.parametrize("path,capability,envelope", [
    ("/v1/responses/compact", "Responses compaction", "openai"),
])
def test_later_capabilities_answer_501_naming_them(gateway, path, capability, envelope):
    r = httpx.post(gateway.url + path, json={})
    assert r.status_code == 501 and capability in r.text
    doc = r.json()
    if envelope == "anthropic":
        assert doc["type"] == "error" and doc["error"]["message"]
    else:
        assert doc["error"]["message"] and "param" in doc["error"]


def test_openai_sdk_reports_501_without_retrying(gateway):
    c = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x")
    with pytest.raises(openai.APIStatusError) as e:
        c.post("/responses/compact", body={"model": "gpt-4o", "input": "hi"}, cast_to=object)
    assert e.value.status_code == 501


@pytest.mark.parametrize("path,hint", [("/v1/v1/messages", "drop '/v1'"),
                                       ("/v1beta/v1/models/gemini-2.5-flash:generateContent", "API version")])
def test_unknown_paths_get_404_with_base_url_hint(gateway, path, hint):
    r = httpx.post(gateway.url + path, json={})
    assert r.status_code == 404 and hint in json.dumps(r.json())


def test_mapped_model_header(start_gateway):
    gw = start_gateway(settings={"model_mapping": {"my-*": "gemini-2.5-pro"}})
    r = httpx.post(gw.url + "/v1beta/models/my-model:generateContent",
                   json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert r.status_code == 200 and r.headers["x-mapped-model"] == "gemini-2.5-pro"
    assert gw.sim.log[-1].model == "gemini-2.5-pro"


def test_addon_forces_lazy_upstream_connections(gateway):
    assert gateway.master.options.connection_strategy == "lazy"
    assert gateway.master.options.tcp_timeout >= 660
