"""Warmup: the smallest valid request per Google account and model family, so the upstream's quota
window starts now (its reset time counts from the first request) instead of at the first real
request, maybe hours later in the middle of work.

Shared by `POST /internal/warmup` and `interlock accounts warmup`; every request goes through the
Cloud Code provider's one request builder, with a fresh token and the account's project.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from addon.pool.accounts import GOOGLE_OAUTH, Account, family
from addon.upstream.cooldown import read_fault
from addon.upstream.provider import PrepareError, UpstreamCall, send_with_fallback

# One model per family when the account's quotas do not name any yet.
DEFAULT_MODELS = ("claude-sonnet-4-6", "gemini-3.1-pro-low", "gemini-3-flash")
WARM_FAMILIES = ("claude", "gemini-pro", "gemini-flash")
PROMPT = "hi"


@dataclass(frozen=True)
class WarmResult:
    account: str
    email: str | None
    model: str
    status: int | None
    message: str

    @property
    def ok(self) -> bool:
        return self.status == 200

    def as_json(self) -> dict:
        return asdict(self)


def warm_models(account: Account) -> list[str]:
    """One model per family the account reports (the first by name), else the defaults."""
    chosen: dict[str, str] = {}
    for q in sorted(account.quota, key=lambda q: q.model):
        fam = family(q.model)
        if fam in WARM_FAMILIES and "image" not in q.model:
            chosen.setdefault(fam, q.model)
    return list(chosen.values()) or list(DEFAULT_MODELS)


def smallest_request(model: str) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": {"maxOutputTokens": 1, "temperature": 0}}


async def warm(google, account: Account, model: str) -> WarmResult:
    """One warmup request; failures are reported, not raised."""
    try:
        ready = await google.ready(account)
        req = google.provider.request(ready, UpstreamCall(model, "generateContent", smallest_request(model),
                                                          session=f"warmup:{account.id}"))
        resp = await send_with_fallback(google.api.client, req)
        try:
            body = await resp.aread()
        finally:
            await resp.aclose()
    except PrepareError as e:
        return WarmResult(account.id, account.email, model, e.status, str(e)[:200])
    except Exception as e:  # noqa: BLE001 - token errors, network errors: said per account
        return WarmResult(account.id, account.email, model, None, f"{type(e).__name__}: {str(e)[:200]}")
    if resp.status_code == 200:
        return WarmResult(account.id, account.email, model, 200, "warmed up")
    fault = read_fault(resp.status_code, resp.headers, body)
    return WarmResult(account.id, account.email, model, resp.status_code, fault.message[:200])


def pick(accounts: list[Account], name: str | None) -> list[Account]:
    """Enabled Google accounts; with `name`, the one whose id, label or e-mail it is."""
    google = [a for a in accounts if a.kind == GOOGLE_OAUTH and a.enabled]
    if name is None:
        return google
    return [a for a in google if name in (a.id, a.label, a.email)]


async def warm_all(google, accounts: list[Account], model: str | None = None) -> list[WarmResult]:
    results: list[WarmResult] = []
    for account in accounts:  # one account at a time: a warmup is no load test
        for m in ([model] if model else warm_models(account)):
            results.append(await warm(google, account, m))
    return results


def summary(results: list[WarmResult]) -> dict:
    return {"success": bool(results) and all(r.ok for r in results), "results": [r.as_json() for r in results]}


def describe(results: list[WarmResult]) -> str:
    return json.dumps(summary(results), indent=2)
