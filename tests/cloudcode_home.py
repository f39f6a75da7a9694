"""A simulator in its own thread (so its URL is known before a gateway's settings are written)
and a data directory whose Cloud Code, OAuth and account settings all point at it."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from addon.pool.store import AccountStore, OAuthFile
from addon.simulator import Simulator

CLIENT = "sim"
CLIENT_ID = "sim-client.apps.example.com"


class SimThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(interval_ms=5)
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="simulator")

    def start(self) -> SimThread:
        self.thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.sim.start(host="127.0.0.1", port=0))
        self._ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return self.sim.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def generates(self) -> list:
        return [r for r in list(self.sim.log) if r.path.endswith(("GenerateContent", "generateContent"))
                and r.status is not None]


def write_cloudcode_home(home: Path, sim_url: str, api_key: str, refresh_tokens: dict[str, str],
                         **settings) -> Path:
    """config.toml for Cloud Code against `sim_url` (a down sandbox first, to exercise fallback)
    and one google_oauth account per `id → refresh token`."""
    home.mkdir(parents=True, exist_ok=True)
    lines = [f"api_key = {json.dumps(api_key)}", f'oauth_token_url = "{sim_url}/token"',
             f'oauth_auth_url = "{sim_url}/o/oauth2/v2/auth"', f'oauth_userinfo_url = "{sim_url}/oauth2/v2/userinfo"',
             f'cloudcode_base_urls = ["{sim_url}/down/v1internal", "{sim_url}/v1internal"]',
             "onboard_poll_s = 0.2"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += [f"[oauth_clients.{CLIENT}]", f'client_id = "{CLIENT_ID}"', 'client_secret = "sim-secret"']
    (home / "config.toml").write_text("\n".join(lines) + "\n")
    store = AccountStore(home / "accounts")
    for account_id, token in refresh_tokens.items():
        store.create(OAuthFile(kind="google_oauth", refresh_token=token, label=account_id, client=CLIENT),
                     account_id=account_id)
    return home
