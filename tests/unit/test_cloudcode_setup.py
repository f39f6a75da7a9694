"""Reading Cloud Code's setup answers (the shared fixtures), OAuth clients by name, imports that
keep their client, and project discovery against the simulator over real sockets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from addon.config import SettingsError, validate
from addon.pool import importers
from addon.pool.accounts import Account
from addon.pool.projects import ProjectResolver, default_tier, tier_of
from addon.pool.quotas import merge_buckets, read_models
from addon.pool.scheduler import Pool
from addon.pool.store import AccountStore, OAuthFile
from addon.pool.tokens import TokenManager
from addon.upstream.cloudcode import CloudCode, CloudCodeApi, CloudCodeSettings
from addon.upstream.provider import PrepareError

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "accounts"


def fixture(name: str) -> dict:
    return json.loads((UPSTREAM / name).read_text())


def test_models_and_quotas_from_the_fixtures():
    report = read_models(fixture("fetch_available_models.json"))
    assert report.models == {"gemini-2.5-pro": (0.75, "2026-02-20T05:00:00Z"),
                             "gemini-3-flash": (0.5, "2026-02-20T04:00:00Z")}  # chat_20706 is IDE-internal
    assert report.redirects == {"claude-opus-4-5-thinking": "claude-opus-4-6-thinking"}
    assert report.details["gemini-2.5-pro"]["maxOutputTokens"] == 65535
    exhausted = read_models({"models": {"claude-sonnet-4-6": {"quotaInfo": {"resetTime": "2026-01-01T00:00:00Z"}}}})
    assert exhausted.models == {"claude-sonnet-4-6": (0.0, "2026-01-01T00:00:00Z")}  # proto3: a missing 0
    merge_buckets(report, {"buckets": [{"modelId": "gemini-2.5-pro", "remainingFraction": 0.25,
                                        "resetTime": "2026-02-20T06:00:00Z"}, *fixture("retrieve_user_quota.json")["buckets"]]})
    assert report.models["gemini-2.5-pro"] == (0.25, "2026-02-20T06:00:00Z")


def test_tiers_from_load_code_assist():
    load = fixture("load_code_assist.json")
    assert tier_of(load) == "g1-pro-tier" and default_tier(load) == "free-tier"
    assert tier_of({"currentTier": {"id": "free-tier"}}) == "free-tier" and tier_of({}) is None


def test_oauth_clients_are_named_in_the_settings():
    s = validate({"oauth_clients": {"a": {"client_id": "ida", "client_secret": "sa"},
                                    "b": {"client_id": "idb"}}, "oauth_client": "b"})
    assert s.login_client()[0] == "b" and s.login_client("a")[1].client_secret == "sa"
    with pytest.raises(SettingsError, match="several"):
        validate({"oauth_clients": {"a": {"client_id": "x"}, "b": {"client_id": "y"}}}).login_client()
    with pytest.raises(SettingsError, match="no OAuth client"):
        validate({}).login_client()
    with pytest.raises(SettingsError, match="cloudcode_base_urls"):
        validate({"cloudcode_base_urls": ["ftp://x"]})
    tokens = TokenManager(Pool(), None, "http://t", "legacy", "legacy-secret", clients={"a": ("ida", "sa")})
    by_name = Account("1", "google_oauth", "", "x", refresh_token="r", client="a")
    by_id = Account("2", "google_oauth", "", "y", refresh_token="r", client_id="ida")
    unnamed = Account("3", "google_oauth", "", "z", refresh_token="r")
    assert tokens.client_for(by_name) == tokens.client_for(by_id) == ("ida", "sa")
    assert tokens.client_for(unnamed) == ("legacy", "legacy-secret")


def test_antigravity_imports_keep_their_client_key():
    entries, _ = importers.read(SAMPLES / "antigravity")
    assert entries and entries[0].client == "antigravity_enterprise"


async def test_discovery_finds_or_onboards_and_saves_the_project(tmp_path, sim):
    store = AccountStore(tmp_path / "accounts")
    store.create(OAuthFile(kind="google_oauth", refresh_token="1//rt-noproject-x"), "new")
    store.create(OAuthFile(kind="google_oauth", refresh_token="1//rt-old"), "old")
    pool = Pool(source=store, reload_every_s=0)
    tokens = TokenManager(pool, store, f"{sim.url}/token", "sim-client")
    api = CloudCodeApi(CloudCode(CloudCodeSettings([f"{sim.url}/v1internal"], "ua")))

    async def call(account, method, body=None, *, get=None):
        return await api.call(await tokens.fresh(account), method, body, get=get)

    resolver = ProjectResolver(call, store, poll_s=0.01)
    try:
        new, old = pool.get("new"), pool.get("old")
        ready = await resolver.ensure(new)
        assert ready.project_id.startswith("sim-project-") and store.read("new").project_id == ready.project_id
        assert [r.path for r in sim.log if "v1internal" in r.path][:2] == ["/v1internal:loadCodeAssist",
                                                                          "/v1internal:onboardUser"]
        polls = [r for r in sim.log if "/operations/" in r.path]
        assert len(polls) == 2
        assert (await resolver.ensure(new)).project_id == ready.project_id
        assert len([r for r in sim.log if "loadCodeAssist" in r.path]) == 1  # remembered
        assert (await resolver.ensure(old)).project_id == store.read("old").project_id
        broken = CloudCodeApi(CloudCode(CloudCodeSettings([f"{sim.url}/down/v1internal"], "ua")))

        async def failing(account, method, body=None, *, get=None):
            return await broken.call(await tokens.fresh(account), method, body, get=get)

        store.create(OAuthFile(kind="google_oauth", refresh_token="1//rt-third"), "third")
        pool.refresh(force=True)
        with pytest.raises(PrepareError, match="project discovery failed"):
            await ProjectResolver(failing, store).ensure(pool.get("third"))
        await broken.aclose()
    finally:
        await api.aclose()
        await tokens.aclose()


async def test_quotas_are_read_even_when_the_stored_project_is_refused(sim):
    from addon.pool.quotas import fetch

    tokens = TokenManager(Pool(), None, f"{sim.url}/token", "sim-client")
    api = CloudCodeApi(CloudCode(CloudCodeSettings([f"{sim.url}/v1internal"], "ua")))
    try:
        async def call(account, method, body=None, *, get=None):
            return await api.call(await tokens.fresh(account), method, body, get=get)

        account = Account("q", "google_oauth", "", "q", refresh_token="1//rt-q", project_id="someone-elses")
        report = await fetch(call, account)
        assert report.models["gemini-2.5-pro"][0] == 1.0
        asked = [r.status for r in sim.log if r.path.endswith(":fetchAvailableModels")]
        assert asked == [403, 200]
    finally:
        await api.aclose()
        await tokens.aclose()
