"""The live parts of one gateway process: pool, dispatcher, bridge, and in demo mode the
simulator. Started once, before the first request is served; closed at shutdown.

Demo mode (asked for, or no account configured) uses two demo keys; when the upstream would be
the real Gemini API it also starts the built-in simulator in-process and sends them there.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from addon.config import GEMINI_API_BASE, Settings
from addon.exchange import Services
from addon.models import ModelMap
from addon.pool.accounts import ANTHROPIC_KEY, GOOGLE_OAUTH, Account, load_dir
from addon.pool.scheduler import Pool
from addon.pool.state import STATE_FILE, StateFile
from addon.pool.store import AccountStore
from addon.pool.tokens import TokenManager
from addon.upstream import anthropic_dispatch
from addon.upstream.anthropic_api import AnthropicProvider
from addon.upstream.bridge import Bridge
from addon.upstream.dispatcher import Dispatcher
from addon.upstream.gemini_api import GeminiApiProvider
from addon.upstream.google import GoogleServices

log = logging.getLogger(__name__)

DEMO_KEYS = ("demo-key-1", "demo-key-2")


@dataclass
class Runtime:
    settings: Settings
    home: Path
    base_url: str
    demo: bool = False
    verify_tls: bool = True
    services: Services | None = None
    bridge: Bridge = field(default_factory=Bridge)
    simulator: object | None = None
    account_problems: list[str] = field(default_factory=list)
    google: GoogleServices | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def started(self) -> bool:
        return self.services is not None

    async def start(self) -> Services:
        async with self._lock:
            if self.services is not None:
                return self.services
            base_url = self.base_url
            accounts, self.account_problems = load_dir(self.home / "accounts")
            if self.demo or not accounts:
                if not self.demo:
                    log.warning("interlock: no account configured; running in demo mode")
                self.demo = True
                if base_url.rstrip("/") == GEMINI_API_BASE:
                    from addon.simulator import Simulator

                    sim = Simulator()
                    await sim.start(host="127.0.0.1", port=0)
                    self.simulator = sim
                    base_url = sim.url
                accounts = [Account(f"demo-{i}", "gemini_api_key", key, f"demo-{i}")
                            for i, key in enumerate(DEMO_KEYS, 1)]
            provider = GeminiApiProvider(base_url)
            anthropic = AnthropicProvider(self.settings.anthropic)
            serves = anthropic_dispatch.serves(self.settings.anthropic.dispatch, serves_gemini_api)
            if self.demo:
                pool = Pool(accounts, serves=serves)
            else:  # follows the account files, so `interlock accounts …` applies without a restart
                pool = Pool(state=StateFile(self.home / STATE_FILE), source=AccountStore(self.home / "accounts"),
                            serves=serves)
            store = None if self.demo else AccountStore(self.home / "accounts")
            tokens = token_manager(self.settings, pool, AccountStore(self.home / "accounts"), self.verify_tls)
            self.google = GoogleServices.build(self.settings, pool, store, tokens, verify_tls=self.verify_tls)

            def provider_for(account: Account):
                """Google OAuth accounts speak Cloud Code; Anthropic keys Anthropic; Gemini keys the Gemini API."""
                if account.kind == ANTHROPIC_KEY:
                    return anthropic
                return self.google.provider if account.kind == GOOGLE_OAUTH else provider

            dispatcher = Dispatcher(pool, provider_for, max_attempts=self.settings.max_attempts,
                                    first_byte_timeout_s=self.settings.first_byte_timeout_s,
                                    upstream_timeout_s=self.settings.upstream_timeout_s,
                                    verify_tls=self.verify_tls, tokens=tokens)
            dispatcher.on_fault = self.google.quotas.on_fault
            dispatcher.scopes_for = anthropic_dispatch.scopes(self.settings.anthropic.dispatch)
            self.google.quotas.start()
            await self.bridge.start()
            self.services = Services(self.settings, ModelMap(self.settings.model_mapping), pool, dispatcher,
                                     demo=self.demo, home=self.home, google=self.google)
            return self.services

    async def close(self) -> None:
        await self.bridge.close()
        if self.google is not None:
            await self.google.aclose()
            self.google = None
        if self.services is not None:
            self.services.pool.flush()
            await self.services.dispatcher.aclose()
        if self.simulator is not None:
            await self.simulator.close()
        self.services = None


def serves_gemini_api(account: Account) -> str | None:
    """Why no provider of this gateway can use `account` (None: one can): API keys go to the
    Gemini API, Google OAuth accounts to Cloud Code."""
    if account.kind in ("gemini_api_key", GOOGLE_OAUTH):
        return None
    return f"{account.kind} accounts serve only as the setting anthropic.dispatch says"


def token_manager(settings: Settings, pool: Pool, store: AccountStore | None, verify_tls: bool = True) -> TokenManager:
    clients = {name: (c.client_id, c.client_secret) for name, c in settings.oauth_clients.items()}
    return TokenManager(pool, store, settings.oauth_token_url, settings.oauth_client_id,
                        settings.oauth_client_secret, verify_tls=verify_tls, clients=clients)
