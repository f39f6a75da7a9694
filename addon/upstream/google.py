"""Everything Google OAuth accounts need, built once from the settings: the Cloud Code provider,
its setup client, project discovery and quota refresh, sharing one token manager.

Used by the gateway's runtime and by `interlock accounts …` commands that talk to Cloud Code
(login, warmup), so both send the same requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from addon.config import Settings
from addon.pool.accounts import Account
from addon.pool.projects import ProjectResolver
from addon.pool.quotas import QuotaRefresher
from addon.pool.scheduler import Pool
from addon.pool.store import AccountStore
from addon.pool.tokens import TokenManager
from addon.upstream.cloudcode import CloudCode, CloudCodeApi, CloudCodeError, CloudCodeSettings


@dataclass
class GoogleServices:
    provider: CloudCode
    api: CloudCodeApi
    projects: ProjectResolver
    quotas: QuotaRefresher
    tokens: TokenManager

    @classmethod
    def build(cls, settings: Settings, pool: Pool, store: AccountStore | None, tokens: TokenManager, *,
              verify_tls: bool = True) -> GoogleServices:
        provider = CloudCode(CloudCodeSettings(settings.cloudcode_base_urls, settings.cloudcode_user_agent,
                                               dict(settings.cloudcode_headers)))
        api = CloudCodeApi(provider, verify_tls=verify_tls)
        call = _Caller(api, tokens)
        projects = ProjectResolver(call, store, settings.onboard_poll_s)
        provider.projects = projects

        async def ready(account: Account) -> Account:
            return await projects.ensure(await tokens.fresh(account))

        quotas = QuotaRefresher(pool, store, call, settings.quota_refresh_s, prepare=ready)
        provider.redirects = quotas.redirects
        return cls(provider, api, projects, quotas, tokens)

    async def aclose(self) -> None:
        await self.quotas.aclose()
        await self.api.aclose()

    async def call(self, account: Account, method: str, body: dict | None = None, *, get: str | None = None) -> dict:
        return await _Caller(self.api, self.tokens)(account, method, body, get=get)

    async def ready(self, account: Account) -> Account:
        """The account with a fresh token and its project (found or onboarded if needed)."""
        account = await self.projects.ensure(await self.tokens.fresh(account))
        return await self.tokens.fresh(account)  # discovery may have refreshed a refused token


class _Caller:
    """One setup call with a fresh access token; a refused token is refreshed once."""

    def __init__(self, api: CloudCodeApi, tokens: TokenManager) -> None:
        self.api, self.tokens = api, tokens

    async def __call__(self, account: Account, method: str, body: dict | None = None, *,
                       get: str | None = None) -> dict:
        account = await self.tokens.fresh(account)
        try:
            return await self.api.call(account, method, body, get=get)
        except CloudCodeError as e:
            if e.status != 401:
                raise
        self.tokens.invalidate(account)
        return await self.api.call(await self.tokens.fresh(account), method, body, get=get)
