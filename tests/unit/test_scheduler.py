"""Scheduler properties, checked over seeded random histories (no hypothesis needed)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from addon.pool.accounts import Account, Quota
from addon.pool.scheduler import Pool
from addon.pool.state import MemoryState, StateFile
from addon.pool.store import AccountStore, GeminiKeyFile

MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "claude-sonnet-4-6")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def accounts(n: int, **kw) -> list[Account]:
    return [Account(f"a{i}", "gemini_api_key", f"key-{i:04d}", f"a{i}", **kw) for i in range(n)]


def random_account(rng: random.Random, i: int) -> Account:
    return Account(f"a{i}", "gemini_api_key", f"key-{i:04d}", f"a{i}", enabled=rng.random() > 0.2,
                   weight=rng.choice([0.5, 1.0, 2.0]), models=rng.choice([(), ("gemini-*",), ("claude-*",)]),
                   max_concurrent=rng.choice([None, None, 1, 2]),
                   quota=rng.choice([(), (Quota("gemini-2.5-flash", rng.choice([0.0, 0.35, 1.0]),
                                            1_000_000.0 + rng.choice([-10, 3600])),)]))


@pytest.mark.parametrize("seed", range(30))
def test_never_picks_an_ineligible_account_while_an_eligible_one_exists(seed):
    rng = random.Random(seed)
    clock = Clock()
    pool = Pool([random_account(rng, i) for i in range(rng.randint(1, 6))], clock)
    for _ in range(300):
        model = rng.choice(MODELS)
        op = rng.random()
        if op < 0.15:
            a = rng.choice(pool.accounts)
            pool.cool_down(a, rng.choice([None, model]), rng.choice([None, 0.5, 5, 7200]), "test", kind=rng.choice(
                [None, "quota", "rate"]))
        elif op < 0.3:
            clock.now += rng.choice([0.1, 1, 10, 4000])
        elif op < 0.4 and any(pool.in_flight(a) for a in pool.accounts):
            pool.release(rng.choice([a for a in pool.accounts if pool.in_flight(a)]))
        else:
            tried = {a.id for a in pool.accounts if rng.random() < 0.2}
            verdicts = pool.explain(model, exclude=tried)
            eligible = [v.account for v in verdicts if v.eligible]
            chosen = pool.pick(model, exclude=tried, session=rng.choice([None, "s1", "s2"]))
            if not eligible:
                assert chosen is None
                continue
            assert chosen is not None and chosen in eligible
            assert chosen.enabled and chosen.capable(model) and pool.cooling(chosen, model) is None
            assert chosen.id not in tried


@pytest.mark.parametrize("seed", range(20))
def test_sticky_session_stays_until_its_account_cools(seed):
    rng = random.Random(seed)
    clock = Clock()
    pool = Pool(accounts(rng.randint(2, 5)), clock)
    home = pool.pick(MODELS[0], session="conv")
    for _ in range(50):
        pool.release(home)
        pool.pick(MODELS[0])  # other traffic moves the rotation on
        pool.release(pool.accounts[0])
        again = pool.pick(MODELS[0], session="conv")
        assert again == home
    pool.cool_down(home, MODELS[0], 60, "429")
    moved = pool.pick(MODELS[0], session="conv")
    assert moved is not None and moved != home
    clock.now += 61
    assert pool.pick(MODELS[0], session="conv") == moved, "the binding followed the fail-over"


def test_load_spreads_evenly_over_equal_accounts_and_by_weight():
    pool = Pool(accounts(4))
    counts = Counter(pool.pick(MODELS[0]).id for _ in range(400))
    assert set(counts.values()) == {100}
    weighted = Pool([Account("big", "gemini_api_key", "k1", "big", weight=3.0),
                     Account("small", "gemini_api_key", "k2", "small")])
    counts = Counter(weighted.pick(MODELS[0]).id for _ in range(400))
    assert counts == {"big": 300, "small": 100}


def test_account_back_from_cooldown_gets_one_turn_not_a_burst():
    clock = Clock()
    pool = Pool(accounts(3), clock)
    pool.cool_down(pool.accounts[0], None, 30, "503")
    for _ in range(30):
        assert pool.pick(MODELS[0]).id != "a0"
    clock.now += 31
    picks = [pool.pick(MODELS[0]).id for _ in range(6)]
    assert picks.count("a0") == 2 and picks[0] == "a0"


def test_quota_snapshot_orders_and_excludes():
    now = 1_000_000.0
    pool = Pool([Account("low", "gemini_api_key", "k1", "low", quota=(Quota("gemini-2.5-flash", 0.2),)),
                 Account("high", "gemini_api_key", "k2", "high", quota=(Quota("gemini-2.5-flash", 0.9),)),
                 Account("empty", "gemini_api_key", "k3", "empty",
                         quota=(Quota("gemini-2.5-flash", 0.0, now + 3600),))], lambda: now)
    verdicts = pool.explain("gemini-2.5-flash-lite")  # same family
    assert [v.account.id for v in verdicts if v.eligible] == ["high", "low"]
    assert "quota for gemini-flash used up" in verdicts[-1].reason
    assert all(v.eligible for v in pool.explain("gemini-2.5-pro")), "other families: quota unknown"


def test_escalating_defaults_and_uncapped_hints():
    clock = Clock()
    pool = Pool(accounts(1), clock)
    a = pool.accounts[0]
    assert [pool.cool_down(a, "m", None, "quota", kind="quota") for _ in range(5)] == [60, 300, 1800, 7200, 7200]
    assert [pool.cool_down(a, None, None, "503") for _ in range(3)] == [1, 2, 4]
    pool.succeeded(a)
    assert pool.cool_down(a, None, None, "503") == 1
    assert pool.cool_down(a, "m", 9 * 86400, "quota reset in 9 days") == 9 * 86400
    clock.now += 8 * 86400
    assert pool.cooling(a, "m") is not None


def test_concurrency_limit_and_waiting_for_a_slot():
    async def scenario():
        pool = Pool([Account("one", "gemini_api_key", "k1", "one", max_concurrent=1)])
        first = await pool.acquire(MODELS[0], wait_s=1)
        assert "busy: 1/1" in pool.explain(MODELS[0])[0].reason
        waiter = asyncio.ensure_future(pool.acquire(MODELS[0], wait_s=5))
        await asyncio.sleep(0)
        assert not waiter.done()
        pool.release(first)
        assert await waiter == first
        pool.release(first)
        assert pool.in_flight(first) == 0
    asyncio.run(scenario())


def test_cooldowns_and_usage_survive_a_restart(tmp_path):
    clock = Clock()
    state = StateFile(tmp_path / "pool-state.json")
    pool = Pool(accounts(2), clock, state=state)
    pool.pick(MODELS[0])
    pool.cool_down(pool.accounts[1], MODELS[0], 7200, "quota exhausted")
    pool.flush()
    again = Pool(accounts(2), clock, state=StateFile(tmp_path / "pool-state.json"))
    assert "quota exhausted" in again.cooling(again.accounts[1], MODELS[0]).reason
    assert again.usage(again.accounts[0])[1] == 1
    clock.now += 7201
    assert Pool(accounts(2), clock, state=state).cooling(again.accounts[1], MODELS[0]) is None
    (tmp_path / "pool-state.json").write_text("{broken")
    assert Pool(accounts(2), clock, state=state).accounts, "a broken state file never stops a start"


def test_account_files_are_followed_without_restart(tmp_path):
    store = AccountStore(tmp_path)
    store.create(GeminiKeyFile(kind="gemini_api_key", api_key="AIza-live-0001", label="one"))
    pool = Pool(source=store, state=MemoryState(), reload_every_s=0)
    assert [a.id for a in pool.usable()] == ["one"]
    store.create(GeminiKeyFile(kind="gemini_api_key", api_key="AIza-live-0002", label="two"))
    store.update("one", enabled=False, disabled_reason="paused")
    pool.pick(MODELS[0])
    assert [a.id for a in pool.usable()] == ["two"]
    assert "disabled: paused" in [v for v in pool.explain(MODELS[0]) if v.account.id == "one"][0].reason


def test_unserved_kinds_are_skipped_with_a_reason():
    pool = Pool([Account("g", "google_oauth", "", "g", refresh_token="1//x")],
                serves=lambda a: None if a.kind == "gemini_api_key" else "needs the Cloud Code provider")
    assert pool.pick(MODELS[0]) is None and pool.usable() == []
    assert pool.explain(MODELS[0])[0].reason == "needs the Cloud Code provider"
