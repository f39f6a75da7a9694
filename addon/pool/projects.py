"""The Cloud Code project of a Google account: found with `loadCodeAssist`, or created by
onboarding (`onboardUser`, a long-running operation polled until done) when the account has none.

The project is written to the account file, so discovery happens once per account, not per
request. There is no fallback project: an account that cannot get one is not used (a request
sent with someone else's project would fail, or worse, be billed to them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from addon.pool.accounts import Account
from addon.pool.store import AccountStore, StoreError
from addon.pool.tokens import TokenError
from addon.upstream.provider import PrepareError

log = logging.getLogger(__name__)

METADATA = {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
MAX_POLLS = 30


@dataclass(frozen=True)
class Discovery:
    project: str
    tier: str | None
    onboarded: bool = False


def tier_of(load: dict) -> str | None:
    """Paid tier, else the current one, else the default allowed one: what the account can use."""
    for key in ("paidTier", "currentTier"):
        tier = load.get(key)
        if isinstance(tier, dict) and (tier.get("id") or tier.get("name")):
            return str(tier.get("id") or tier.get("name"))
    return None


def default_tier(load: dict) -> str:
    tiers = [t for t in load.get("allowedTiers") or [] if isinstance(t, dict)]
    chosen = next((t for t in tiers if t.get("isDefault")), tiers[0] if tiers else {})
    return str(chosen.get("id") or "free-tier")


def _project_id(value: object) -> str | None:
    """loadCodeAssist gives the project as a string, onboardUser as an object with `id`."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return value["id"]
    return None


Call = Callable[..., Awaitable[dict]]  # CloudCodeApi.call(account, method, body, get=…)


async def discover(call: Call, account: Account, poll_s: float = 2.0) -> Discovery:
    """loadCodeAssist, then (no project yet) onboardUser on the default tier, polled until done."""
    load = await call(account, "loadCodeAssist", {"metadata": METADATA})
    if project := _project_id(load.get("cloudaicompanionProject")):
        return Discovery(project, tier_of(load))
    tier = default_tier(load)
    body: dict = {"tierId": tier, "metadata": METADATA}
    op = await call(account, "onboardUser", body)
    for _ in range(MAX_POLLS):
        if op.get("done"):
            break
        await asyncio.sleep(poll_s)
        name = op.get("name")
        if not isinstance(name, str) or not name.startswith("operations/"):
            op = await call(account, "onboardUser", body)  # older servers: post again instead of polling
        else:
            op = await call(account, "", get=name)
    else:
        raise PrepareError(f"{account.label}: onboarding did not finish after {MAX_POLLS} polls")
    project = _project_id((op.get("response") or {}).get("cloudaicompanionProject"))
    if project is None:
        raise PrepareError(f"{account.label}: onboarding finished without a project (tier {tier})", status=403)
    return Discovery(project, tier, onboarded=True)


class ProjectResolver:
    """Single flight per account; the result goes to the account file and the pool."""

    def __init__(self, call: Call, store: AccountStore | None, poll_s: float = 2.0,
                 on_found: Callable[[Account], None] | None = None) -> None:
        self.call, self.store, self.poll_s, self.on_found = call, store, poll_s, on_found
        self._flights: dict[str, asyncio.Task[Discovery]] = {}
        self._known: dict[str, Discovery] = {}

    async def ensure(self, account: Account) -> Account:
        if account.project_id:
            return account
        found = self._known.get(account.id)
        if found is None:
            flight = self._flights.get(account.id)
            if flight is None:
                flight = asyncio.ensure_future(self._discover(account))
                self._flights[account.id] = flight
                flight.add_done_callback(lambda _: self._flights.pop(account.id, None))
            found = await asyncio.shield(flight)
        return dataclasses.replace(account, project_id=found.project, tier=found.tier or account.tier)

    async def _discover(self, account: Account) -> Discovery:
        from addon.upstream.cloudcode import CloudCodeError

        try:
            found = await discover(self.call, account, self.poll_s)
        except CloudCodeError as e:
            raise PrepareError(f"{account.label}: project discovery failed: {e}", e.status) from None
        except Exception as e:  # network errors: the next request tries again
            if isinstance(e, (PrepareError, TokenError)):
                raise
            raise PrepareError(f"{account.label}: project discovery failed ({type(e).__name__})") from None
        self._known[account.id] = found
        log.info("cloudcode: %s uses project %s (tier %s%s)", account.label, found.project, found.tier,
                 ", onboarded" if found.onboarded else "")
        if self.store is not None:
            try:
                self.store.update(account.id, project_id=found.project, tier=found.tier)
            except StoreError as e:
                log.warning("cloudcode: could not save the project of %s: %s", account.label, e)
        if self.on_found is not None:
            self.on_found(dataclasses.replace(account, project_id=found.project, tier=found.tier))
        return found
