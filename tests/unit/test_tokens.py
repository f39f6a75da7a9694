"""OAuth tokens against the simulator's token endpoint, over real sockets."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from addon.pool.scheduler import Pool
from addon.pool.store import AccountStore, OAuthFile
from addon.pool.tokens import REFRESH_AHEAD_S, TokenError, TokenManager
from addon.upstream.dispatcher import Dispatcher
from addon.upstream.gemini_api import GeminiApiProvider
from addon.upstream.provider import UpstreamCall

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"


def setup(tmp_path, sim, *refresh_tokens: str, client_id: str = "sim-client"):
    store = AccountStore(tmp_path / "accounts")
    for i, token in enumerate(refresh_tokens):
        store.create(OAuthFile(kind="google_oauth", refresh_token=token), f"g{i}")
    pool = Pool(source=store, reload_every_s=0)
    return store, pool, TokenManager(pool, store, f"{sim.url}/token", client_id)


async def test_token_endpoint_shapes_follow_the_fixtures(sim):
    async with httpx.AsyncClient(base_url=sim.url) as c:
        ok = await c.post("/token", data={"grant_type": "refresh_token", "client_id": "c", "refresh_token": "rt"})
        assert ok.status_code == 200 and set(ok.json()) == set(json.loads((FIXTURES / "oauth_token.json").read_text()))
        dead = await c.post("/token", data={"grant_type": "refresh_token", "client_id": "c", "refresh_token": "revoked"})
        assert dead.status_code == 400 and dead.json() == json.loads((FIXTURES / "oauth_invalid_grant.json").read_text())
        bad = await c.post("/token", data={"grant_type": "refresh_token", "client_id": "unknown", "refresh_token": "x"})
        assert bad.status_code == 401 and bad.json() == json.loads((FIXTURES / "oauth_invalid_client.json").read_text())


async def test_refresh_is_single_flight_and_saved(tmp_path, sim):
    store, pool, tokens = setup(tmp_path, sim, "1//0good-refresh")
    account = pool.get("g0")
    fresh = await asyncio.gather(*(tokens.fresh(account) for _ in range(10)))
    assert tokens.refreshes == 1 and len({a.secret for a in fresh}) == 1
    assert fresh[0].secret.startswith("ya29.sim-")
    saved = store.read("g0")
    assert saved.access_token == fresh[0].secret and saved.expires_at == pytest.approx(fresh[0].expires_at)
    assert (await tokens.fresh(account)).secret == fresh[0].secret and tokens.refreshes == 1
    await tokens.aclose()


async def test_refresh_ahead_of_expiry(tmp_path, sim):
    store, pool, tokens = setup(tmp_path, sim, "1//0soon")
    now = [1_000_000.0]
    tokens.clock = lambda: now[0]
    store.update("g0", access_token="ya29.old-token-0000", expires_at=now[0] + REFRESH_AHEAD_S + 60)
    pool.refresh(force=True)
    assert (await tokens.fresh(pool.get("g0"))).secret == "ya29.old-token-0000"
    now[0] += 61
    assert (await tokens.fresh(pool.get("g0"))).secret.startswith("ya29.sim-"), "refreshed before it expired"
    await tokens.aclose()


async def test_invalid_grant_disables_the_account_on_disk(tmp_path, sim):
    store, pool, tokens = setup(tmp_path, sim, "revoked-refresh-1")
    with pytest.raises(TokenError) as e:
        await tokens.fresh(pool.get("g0"))
    assert e.value.permanent and "revoked-refresh" not in str(e.value)
    assert not pool.get("g0").enabled
    saved = store.read("g0")
    assert saved.enabled is False and saved.disabled_reason.startswith("invalid_grant: Token has been expired or revoked.")
    assert not Pool(source=store).get("g0").enabled, "still disabled after a restart"
    await tokens.aclose()


async def test_transient_failure_cools_down_briefly(tmp_path, sim):
    store, pool, tokens = setup(tmp_path, sim, "flaky-refresh-1")
    with pytest.raises(TokenError) as e:
        await tokens.fresh(pool.get("g0"))
    assert not e.value.permanent
    cooldown = pool.cooling(pool.get("g0"), "any-model")
    assert cooldown is not None and "token refresh failed" in cooldown.reason
    assert store.read("g0").enabled
    assert (await tokens.fresh(pool.get("g0"))).secret.startswith("ya29.sim-")
    await tokens.aclose()


async def test_dispatcher_refreshes_once_on_401_then_succeeds(tmp_path, sim):
    store, pool, tokens = setup(tmp_path, sim, "rt#sim-401x1_oauth")
    dispatcher = Dispatcher(pool, lambda a: GeminiApiProvider(sim.url), tokens=tokens)
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    stream = await dispatcher.open_stream(UpstreamCall("gemini-2.5-flash", "stream", body))
    events = [e async for e in stream.events()]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert [a.status for a in stream.attempts] == [401, 200]
    assert tokens.refreshes == 2 and pool.in_flight(pool.get("g0")) == 0
    await dispatcher.aclose()


async def test_dispatcher_rotates_away_from_a_dead_refresh_token(tmp_path, sim):
    store, pool, tokens = setup(tmp_path, sim, "revoked-a", "1//0fine")
    dispatcher = Dispatcher(pool, lambda a: GeminiApiProvider(sim.url), tokens=tokens)
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    doc, account, attempts = await dispatcher.unary(UpstreamCall("gemini-2.5-flash", "countTokens", body))
    assert account.id == "g1" and doc["totalTokens"] > 0
    assert "invalid_grant" in attempts[0].reason
    await dispatcher.aclose()
