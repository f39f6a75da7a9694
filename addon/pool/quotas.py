"""Cloud Code quotas: per model `remainingFraction` and `resetTime` from `fetchAvailableModels`
(and the buckets of `retrieveUserQuota`), written to each account file's `quota`.

The scheduler reads those snapshots (prefers accounts with more left, skips one at 0 until its
reset) and `interlock accounts list` shows them. They are refreshed on a timer and soon after an
account hits a quota 429, so an exhausted account is skipped by what the upstream says, not only
by our cooldown guess. `fetchAvailableModels` also names deprecated model ids and their
replacements; requests for an old id are sent as the new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from addon.pool.accounts import GOOGLE_OAUTH, Account
from addon.pool.scheduler import Pool
from addon.pool.store import AccountStore, StoreError
from addon.upstream.cooldown import UpstreamFault

log = logging.getLogger(__name__)

KEPT_PREFIXES = ("gemini", "claude", "gpt", "image", "imagen")  # the rest are IDE-internal models
AFTER_429_DELAY_S = 1.0


@dataclass
class QuotaReport:
    """One account's answer: model → (fraction, reset time as RFC3339 or None), and redirects."""

    models: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    details: dict[str, dict] = field(default_factory=dict)  # model → maxTokens etc., for the model list


def _parse_time(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def read_models(doc: dict) -> QuotaReport:
    """`fetchAvailableModels` → report. A missing fraction next to a reset time means 0 (proto3 default)."""
    report = QuotaReport()
    models = doc.get("models")
    for name, info in (models.items() if isinstance(models, dict) else ()):
        if not isinstance(info, dict) or not name.lower().startswith(KEPT_PREFIXES):
            continue
        quota = info.get("quotaInfo")
        if not isinstance(quota, dict):
            continue
        fraction = quota.get("remainingFraction")
        reset = _parse_time(quota.get("resetTime"))
        if not isinstance(fraction, (int, float)):
            if reset is None:
                continue
            fraction = 0.0
        report.models[name] = (max(0.0, min(1.0, float(fraction))), reset)
        report.details[name] = {k: info[k] for k in ("displayName", "maxTokens", "maxOutputTokens",
                                                     "supportsThinking") if k in info}
    deprecated = doc.get("deprecatedModelIds")
    for old, new in (deprecated.items() if isinstance(deprecated, dict) else ()):
        if isinstance(new, dict) and isinstance(new.get("newModelId"), str):
            report.redirects[old] = new["newModelId"]
    return report


def merge_buckets(report: QuotaReport, doc: dict) -> None:
    """`retrieveUserQuota` buckets: the tighter of the two answers wins for a model."""
    for bucket in doc.get("buckets") or ():
        if not isinstance(bucket, dict) or not isinstance(bucket.get("modelId"), str):
            continue
        fraction = bucket.get("remainingFraction")
        if not isinstance(fraction, (int, float)):
            continue
        model, reset = bucket["modelId"], _parse_time(bucket.get("resetTime"))
        current = report.models.get(model)
        if current is None or fraction < current[0]:
            report.models[model] = (max(0.0, min(1.0, float(fraction))), reset or (current[1] if current else None))


Call = Callable[..., Awaitable[dict]]


async def fetch(call: Call, account: Account) -> QuotaReport:
    from addon.upstream.cloudcode import CloudCodeError

    body = {"project": account.project_id} if account.project_id else {}
    try:
        models = await call(account, "fetchAvailableModels", body)
    except CloudCodeError as e:
        if e.status != 403 or not body:
            raise
        body = {}  # a project the call may not name: the account's own view still has the quotas
        models = await call(account, "fetchAvailableModels", body)
    report = read_models(models)
    try:
        merge_buckets(report, await call(account, "retrieveUserQuota", body))
    except Exception as e:  # noqa: BLE001 - best effort: not every account or host offers it
        log.debug("quotas: retrieveUserQuota for %s: %s", account.label, e)
    return report


class QuotaRefresher:
    """Keeps the account files' quota current; `redirects` and `served` are shared with the gateway."""

    def __init__(self, pool: Pool, store: AccountStore | None, call: Call, every_s: float = 600.0,
                 prepare: Callable[[Account], Awaitable[Account]] | None = None) -> None:
        self.pool, self.store, self.call, self.every_s, self.prepare = pool, store, call, every_s, prepare
        self.redirects: dict[str, str] = {}
        self.details: dict[str, dict] = {}
        self.served: dict[str, set[str]] = {}  # account id → models it reported
        self.errors: dict[str, str] = {}
        self._task: asyncio.Task | None = None
        self._soon: dict[str, asyncio.Task] = {}

    def start(self) -> None:
        if self.every_s > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def aclose(self) -> None:
        tasks = [t for t in [self._task, *self._soon.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await self.refresh_all()
            await asyncio.sleep(self.every_s)

    async def refresh_all(self) -> dict[str, QuotaReport | str]:
        self.pool.refresh()
        accounts = [a for a in self.pool.accounts if a.kind == GOOGLE_OAUTH and a.enabled]
        results = await asyncio.gather(*(self.refresh(a) for a in accounts), return_exceptions=True)
        return {a.id: r if isinstance(r, QuotaReport) else f"{type(r).__name__}: {r}"
                for a, r in zip(accounts, results)}

    async def refresh(self, account: Account) -> QuotaReport:
        try:
            if self.prepare is not None:
                account = await self.prepare(account)
            report = await fetch(self.call, account)
        except Exception as e:
            self.errors[account.id] = str(e)[:200]
            log.info("quotas: %s: %s", account.label, e)
            raise
        self.errors.pop(account.id, None)
        self.redirects.update(report.redirects)
        self.details.update(report.details)
        self.served[account.id] = set(report.models)
        if self.store is not None:
            entries = {m: {"remaining": f, **({"reset_at": r} if r else {})} for m, (f, r) in report.models.items()}
            try:
                self.store.update(account.id, quota=entries, quota_checked_at=datetime.now(timezone.utc).isoformat())
            except StoreError as e:
                log.warning("quotas: could not save %s: %s", account.label, e)
        return report

    def on_fault(self, account: Account, model: str, fault: UpstreamFault) -> None:
        """A quota 429: look at the account's quotas again shortly (once at a time per account)."""
        if account.kind != GOOGLE_OAUTH or fault.kind not in ("quota",) or account.id in self._soon:
            return

        async def later() -> None:
            try:
                await asyncio.sleep(AFTER_429_DELAY_S)
                await self.refresh(account)
            except Exception:  # noqa: BLE001 - logged in refresh; the timer tries again
                pass
            finally:
                self._soon.pop(account.id, None)

        self._soon[account.id] = asyncio.ensure_future(later())
