"""Which account serves the next attempt, and why the others did not.

Eligible: enabled, served by this gateway's provider, capable of the model, not cooling down for
it, quota snapshot not used up, below its concurrency limit, not yet tried by this request.
Among the eligible: more remaining quota first (in 10 % steps, when known), then the earlier
reset (use it before it refills anyway), then the longest idle by a weighted "turn" (stride
scheduling: equal weights give least-recently-used, weight 2 gets twice the turns). A session
stays on its account while that account is eligible, and moves with the fail-over otherwise.

Cooldowns bind to (account, model) for quota errors and to the account otherwise; they follow the
upstream's hint, uncapped, or an escalating ladder per kind of fault. Cooldowns, strikes and usage
persist through a `PoolState`; the accounts themselves are re-read when their files change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from addon.pool.accounts import Account, family
from addon.pool.state import MemoryState, PoolState

Clock = Callable[[], float]

# Escalating defaults when the upstream gave no hint, per kind of fault (seconds).
LADDERS: dict[str, tuple[float, ...]] = {
    "quota": (60.0, 300.0, 1800.0, 7200.0),
    "capacity": (5.0, 10.0, 15.0, 30.0, 60.0),
    "token": (30.0, 60.0, 120.0, 300.0),
}
DEFAULT_LADDER = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)


@dataclass
class Cooldown:
    until: float
    reason: str
    rate_limited: bool = False


@dataclass(frozen=True)
class Verdict:
    """One account's part in one decision: chosen/eligible with its rank, or skipped and why."""

    account: Account
    eligible: bool
    reason: str
    rank: int | None = None

    def describe(self) -> str:
        head = f"#{self.rank}" if self.eligible else "skip"
        return f"{self.account.label} {head}: {self.reason}"


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Pool:
    def __init__(self, accounts: Iterable[Account] = (), clock: Clock = time.time, *,
                 state: PoolState | None = None, source=None,
                 serves: Callable[[Account], str | None] | None = None,
                 reload_every_s: float = 1.0, flush_every_s: float = 1.0, max_sessions: int = 10_000) -> None:
        self._clock = clock
        self._state = state or MemoryState()
        self._source = source  # an AccountStore (load(), signature()) to follow file changes
        self._serves = serves or (lambda account: None)
        self._reload_every_s = reload_every_s
        self._flush_every_s = flush_every_s
        self._max_sessions = max_sessions
        self._accounts: list[Account] = []
        self._turn: dict[str, float] = {}
        self._vtime = 0.0
        self._in_flight: dict[str, int] = {}
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._cooldowns: dict[tuple[str, str | None], Cooldown] = {}
        self._strikes: dict[str, int] = {}
        self._last_used: dict[str, float] = {}
        self._picked_at: dict[str, int] = {}  # journal seq of the last pick: ties go to the longest idle
        self._today: dict[str, tuple[str, int]] = {}
        self._signature: tuple | None = None
        self._checked_at = -math.inf
        self._flushed_at = -math.inf
        self._released: asyncio.Event | None = None
        self.problems: list[str] = []
        self.seq = 0
        self.journal: deque[tuple[int, str, str, str | None]] = deque(maxlen=50_000)
        self._restore()
        if source is not None and not accounts:
            self.refresh(force=True)
        else:
            self.replace(accounts)

    # accounts

    def replace(self, accounts: Iterable[Account]) -> None:
        self._accounts = list(accounts)
        ids = {a.id for a in self._accounts}
        for a in self._accounts:
            self._turn.setdefault(a.id, self._vtime)
        for session, bound in list(self._sessions.items()):
            if bound not in ids:
                del self._sessions[session]

    def refresh(self, force: bool = False) -> bool:
        """Re-read the account files if they changed (checked at most every `reload_every_s`)."""
        if self._source is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked_at < self._reload_every_s:
            return False
        self._checked_at = now
        signature = self._source.signature()
        if signature == self._signature and not force:
            return False
        self._signature = signature
        accounts, self.problems = self._source.load()
        self.replace(accounts)
        return True

    def disable(self, account_id: str, reason: str) -> None:
        """Take an account out at once (its file says so too, but is re-read only later)."""
        self._accounts = [dataclasses.replace(a, enabled=False, disabled_reason=reason) if a.id == account_id else a
                          for a in self._accounts]

    @property
    def accounts(self) -> list[Account]:
        return list(self._accounts)

    def get(self, account_id: str) -> Account | None:
        return next((a for a in self._accounts if a.id == account_id), None)

    def usable(self) -> list[Account]:
        """Enabled accounts this gateway's provider can send requests to."""
        return [a for a in self._accounts if a.enabled and self._serves(a) is None]

    # decisions

    def cooling(self, account: Account, model: str | None) -> Cooldown | None:
        now = self._clock()
        found = [cd for key in ((account.id, None), (account.id, model))
                 if (cd := self._cooldowns.get(key)) and cd.until > now]
        return max(found, key=lambda cd: cd.until) if found else None

    def _skip(self, account: Account, model: str, tried: set[str], now: float) -> str | None:
        if account.id in tried:
            return "already tried by this request"
        if not account.enabled:
            return "disabled" + (f": {account.disabled_reason}" if account.disabled_reason else "")
        if (why := self._serves(account)) is not None:
            return why
        if not account.capable(model):
            return f"not capable of {model} (models: {', '.join(account.models)})"
        if cd := self.cooling(account, model):
            return f"cooling down {_ago(cd.until - now)} more: {cd.reason}"
        q = account.quota_for(model)
        if q is not None and q.remaining <= 0 and (q.reset_at is None or q.reset_at > now):
            until = f" until {datetime.fromtimestamp(q.reset_at).isoformat(timespec='minutes')}" if q.reset_at else ""
            return f"quota for {family(model)} used up{until}"
        limit = account.max_concurrent
        if limit is not None and self._in_flight.get(account.id, 0) >= limit:
            return f"busy: {self._in_flight[account.id]}/{limit} requests in flight"
        return None

    def _rank_key(self, account: Account, model: str) -> tuple:
        q = account.quota_for(model)
        share = math.floor((q.remaining if q else 1.0) * 10 + 1e-9)
        reset = (q.reset_at // 600) if q and q.reset_at else math.inf
        return (-share, reset, self._turn.get(account.id, self._vtime),
                self._picked_at.get(account.id, 0), account.id)

    def _why_eligible(self, account: Account, model: str, sticky: bool, now: float) -> str:
        parts = ["sticky for this session"] if sticky else []
        if q := account.quota_for(model):
            parts.append(f"quota {round(q.remaining * 100)}%"
                         + (f", resets in {_ago(q.reset_at - now)}" if q.reset_at else ""))
        last = self._last_used.get(account.id)
        parts.append(f"last used {_ago(now - last)} ago" if last else "never used")
        if account.weight != 1.0:
            parts.append(f"weight {account.weight:g}")
        return ", ".join(parts)

    def explain(self, model: str, session: str | None = None, exclude: Iterable[str] = ()) -> list[Verdict]:
        """Every account's verdict for `model`, the one `pick` would choose first."""
        now = self._clock()
        tried = set(exclude)
        eligible: list[Account] = []
        skipped: list[Verdict] = []
        for a in self._accounts:
            if (why := self._skip(a, model, tried, now)) is None:
                eligible.append(a)
            else:
                skipped.append(Verdict(a, False, why))
        eligible.sort(key=lambda a: self._rank_key(a, model))
        bound = self._sessions.get(session) if session else None
        if bound is not None and (first := next((a for a in eligible if a.id == bound), None)):
            eligible.remove(first)
            eligible.insert(0, first)
        ranked = [Verdict(a, True, self._why_eligible(a, model, a.id == bound, now), i)
                  for i, a in enumerate(eligible, 1)]
        return ranked + skipped

    def pick(self, model: str, exclude: Iterable[str] = (), session: str | None = None) -> Account | None:
        """The next account for `model`, holding one of its concurrency slots until `release`."""
        self.refresh()
        verdicts = self.explain(model, session, exclude)
        if not verdicts or not verdicts[0].eligible:
            return None
        chosen = verdicts[0].account
        self._vtime = max(self._vtime, self._turn.get(chosen.id, self._vtime))
        self._turn[chosen.id] = self._vtime + 1.0 / chosen.weight
        if session:
            self._sessions[session] = chosen.id
            self._sessions.move_to_end(session)
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)
        self.hold(chosen)
        self._count_use(chosen)
        self._log("pick", chosen.id, model)
        self._picked_at[chosen.id] = self.seq
        return chosen

    async def acquire(self, model: str, exclude: Iterable[str] = (), session: str | None = None,
                      wait_s: float = 60.0) -> Account | None:
        """`pick`, but wait (up to `wait_s`) while the only eligible accounts are at their limit."""
        deadline = time.monotonic() + wait_s
        while True:
            account = self.pick(model, exclude, session)
            if account is not None:
                return account
            busy = any(not v.eligible and v.reason.startswith("busy") for v in self.explain(model, None, exclude))
            left = deadline - time.monotonic()
            if not busy or left <= 0:
                return None
            if self._released is None:
                self._released = asyncio.Event()
            self._released.clear()
            try:
                await asyncio.wait_for(self._released.wait(), timeout=left)
            except TimeoutError:
                return None

    def hold(self, account: Account) -> None:
        self._in_flight[account.id] = self._in_flight.get(account.id, 0) + 1

    def release(self, account: Account) -> None:
        """The attempt on `account` is over (its stream ended, or it failed)."""
        n = self._in_flight.get(account.id, 0) - 1
        if n > 0:
            self._in_flight[account.id] = n
        else:
            self._in_flight.pop(account.id, None)
        if self._released is not None:
            self._released.set()

    def in_flight(self, account: Account) -> int:
        return self._in_flight.get(account.id, 0)

    # outcomes

    def cool_down(self, account: Account, model: str | None, seconds: float | None, reason: str,
                  rate_limited: bool = False, kind: str | None = None) -> float:
        """Bench `account` (for `model` only, if given) for the hint, else the next step of its ladder."""
        if seconds is None:
            ladder = LADDERS.get(kind or "", DEFAULT_LADDER)
            key = f"{account.id}|{kind or 'other'}|{model or ''}"
            strikes = self._strikes.get(key, 0)
            self._strikes[key] = strikes + 1
            seconds = ladder[min(strikes, len(ladder) - 1)]
        until = self._clock() + seconds
        current = self._cooldowns.get((account.id, model))
        if current is None or current.until < until:
            self._cooldowns[(account.id, model)] = Cooldown(until, reason, rate_limited)
        self._log("cool_down", account.id, model)
        self._flush(force=True)
        return seconds

    def succeeded(self, account: Account) -> None:
        prefix = f"{account.id}|"
        for key in [k for k in self._strikes if k.startswith(prefix)]:
            del self._strikes[key]
        self._flush()

    def soonest_ready(self, model: str) -> float | None:
        """Seconds until some enabled account can take `model` again; None if none ever will."""
        waits = []
        for a in self.usable():
            if not a.capable(model):
                continue
            cd = self.cooling(a, model)
            waits.append(cd.until - self._clock() if cd else 0.0)
        return min(waits) if waits else None

    def rate_limited(self, model: str) -> bool:
        """True when every enabled account is cooling down for `model` because of a rate limit."""
        states = [self.cooling(a, model) for a in self.usable()]
        return bool(states) and all(cd is not None and cd.rate_limited for cd in states)

    def cooldowns(self, account: Account) -> dict[str | None, Cooldown]:
        """Active cooldowns of one account, by model (None: the whole account)."""
        now = self._clock()
        return {m: cd for (a, m), cd in self._cooldowns.items() if a == account.id and cd.until > now}

    def usage(self, account: Account) -> tuple[float | None, int]:
        """(last used, requests today) — today in local time."""
        day, count = self._today.get(account.id, ("", 0))
        return self._last_used.get(account.id), count if day == self._day() else 0

    # persistence

    def _day(self) -> str:
        return datetime.fromtimestamp(self._clock()).date().isoformat()

    def _count_use(self, account: Account) -> None:
        self._last_used[account.id] = self._clock()
        day, count = self._today.get(account.id, ("", 0))
        today = self._day()
        self._today[account.id] = (today, count + 1 if day == today else 1)
        self._flush()

    def _log(self, event: str, account_id: str, model: str | None) -> None:
        self.seq += 1
        self.journal.append((self.seq, event, account_id, model))

    def _restore(self) -> None:
        doc = self._state.load()
        now = self._clock()
        for item in doc.get("cooldowns") or []:
            try:
                if float(item["until"]) > now:
                    self._cooldowns[(str(item["account"]), item.get("model"))] = Cooldown(
                        float(item["until"]), str(item.get("reason", "")), bool(item.get("rate_limited")))
            except (KeyError, TypeError, ValueError):
                continue
        strikes = doc.get("strikes")
        if isinstance(strikes, dict):
            self._strikes = {str(k): int(v) for k, v in strikes.items() if isinstance(v, int)}
        for account_id, use in (doc.get("usage") or {}).items():
            if isinstance(use, dict):
                if isinstance(use.get("last_used"), (int, float)):
                    self._last_used[account_id] = float(use["last_used"])
                if isinstance(use.get("day"), str) and isinstance(use.get("requests"), int):
                    self._today[account_id] = (use["day"], use["requests"])

    def snapshot(self) -> dict:
        now = self._clock()
        return {
            "version": 1,
            "cooldowns": [{"account": a, "model": m, "until": cd.until, "reason": cd.reason,
                           "rate_limited": cd.rate_limited}
                          for (a, m), cd in self._cooldowns.items() if cd.until > now],
            "strikes": dict(self._strikes),
            "usage": {a: {"last_used": self._last_used.get(a), "day": self._today.get(a, ("", 0))[0],
                          "requests": self._today.get(a, ("", 0))[1]}
                      for a in set(self._last_used) | set(self._today)},
        }

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._flushed_at < self._flush_every_s:
            return
        self._flushed_at = now
        try:
            self._state.save(self.snapshot())
        except OSError:
            pass  # the pool keeps working from memory; the next flush tries again

    def flush(self) -> None:
        self._flush(force=True)
        if (drain := getattr(self._state, "drain", None)) is not None:
            drain()
