"""Which account serves the next attempt, and which ones are cooling down.

The foundation's scheduler: enabled accounts, not cooling down for the model, least recently
used first. Cooldowns bind to (account, model) for quota errors and to the account otherwise.
State is in memory behind this one class, so a shared backend can replace it later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from addon.pool.accounts import Account

Clock = Callable[[], float]


@dataclass
class Cooldown:
    until: float
    reason: str
    rate_limited: bool = False


class Pool:
    def __init__(self, accounts: Iterable[Account] = (), clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._accounts: list[Account] = []
        self._last_used: dict[str, float] = {}
        self._cooldowns: dict[tuple[str, str | None], Cooldown] = {}
        self._strikes: dict[str, int] = {}
        self.replace(accounts)

    def replace(self, accounts: Iterable[Account]) -> None:
        self._accounts = list(accounts)

    @property
    def accounts(self) -> list[Account]:
        return list(self._accounts)

    def usable(self) -> list[Account]:
        return [a for a in self._accounts if a.enabled]

    def cooling(self, account: Account, model: str) -> Cooldown | None:
        now = self._clock()
        for key in ((account.id, None), (account.id, model)):
            cd = self._cooldowns.get(key)
            if cd and cd.until > now:
                return cd
        return None

    def pick(self, model: str, exclude: Iterable[str] = ()) -> Account | None:
        skip = set(exclude)
        ready = [a for a in self.usable() if a.id not in skip and not self.cooling(a, model)]
        if not ready:
            return None
        chosen = min(ready, key=lambda a: self._last_used.get(a.id, 0.0))
        self._last_used[chosen.id] = self._clock()
        return chosen

    def cool_down(self, account: Account, model: str | None, seconds: float | None, reason: str,
                  rate_limited: bool = False) -> float:
        """Bench `account` (for `model` only, if given). No hint → 1 s, 2 s, 4 s … up to 60 s."""
        if seconds is None:
            strikes = self._strikes.get(account.id, 0)
            self._strikes[account.id] = strikes + 1
            seconds = min(60.0, 2.0 ** strikes)
        self._cooldowns[(account.id, model)] = Cooldown(self._clock() + seconds, reason, rate_limited)
        return seconds

    def succeeded(self, account: Account) -> None:
        self._strikes.pop(account.id, None)

    def soonest_ready(self, model: str) -> float | None:
        """Seconds until some enabled account can take `model` again; None if none ever will."""
        waits = []
        for a in self.usable():
            cd = self.cooling(a, model)
            waits.append(cd.until - self._clock() if cd else 0.0)
        return min(waits) if waits else None

    def rate_limited(self, model: str) -> bool:
        """True when every enabled account is cooling down for `model` because of a rate limit."""
        states = [self.cooling(a, model) for a in self.usable()]
        return bool(states) and all(cd is not None and cd.rate_limited for cd in states)
