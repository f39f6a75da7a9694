"""Everything Google OAuth accounts need, built once from the settings: the Cloud Code provider,
its setup client, project discovery and quota refresh, sharing one token manager.

Used by the gateway's runtime and by `interlock accounts …` commands that talk to Cloud Code
(login, warmup), so both send the same requests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from addon.config import Settings
from addon.pool.accounts import Account
from addon.pool.projects import ProjectResolver
from addon.pool.quotas import QuotaRefresher
from addon.pool.scheduler import Pool
from addon.pool.store import AccountStore
from addon.pool.tokens import TokenError, TokenManager
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
        services = cls(provider, api, None, None, tokens)  # type: ignore[arg-type]
        services.projects = ProjectResolver(services.call, store, settings.onboard_poll_s)
        provider.projects = services.projects
        services.quotas = QuotaRefresher(pool, store, services.call, settings.quota_refresh_s,
                                         prepare=services.ready)
        provider.redirects = services.quotas.redirects
        return services

    async def aclose(self) -> None:
        await self.quotas.aclose()
        await self.api.aclose()

    async def call(self, account: Account, method: str, body: dict | None = None, *, get: str | None = None) -> dict:
        """One setup call with a fresh access token; a refused token is refreshed once."""
        account = await self.tokens.fresh(account)
        try:
            return await self.api.call(account, method, body, get=get)
        except CloudCodeError as e:
            if e.status != 401:
                raise
        self.tokens.invalidate(account)
        return await self.api.call(await self.tokens.fresh(account), method, body, get=get)

    async def ready(self, account: Account) -> Account:
        """The account with a fresh token and its project (found or onboarded if needed)."""
        account = await self.tokens.fresh(account)
        account = await self.projects.ensure(account)
        return dataclasses.replace(account)


__all__ = ["GoogleServices", "TokenError"]
