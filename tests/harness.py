"""A real gateway (mitmproxy DumpMaster + the interlock addon) and a real simulator, each on
its own port, running in a background thread's event loop, so tests can drive them with the
official (blocking or async) SDKs over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from mitmproxy.options import Options
from mitmproxy.tools.dump import DumpMaster

from addon.gateway import Gateway
from addon.simulator import Simulator

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
API_KEY = "sk-test-0123456789abcdef"


def write_home(home: Path, settings: dict[str, Any] | None = None, keys: list[str] | None = None) -> Path:
    """A data directory with `config.toml` and one account file per Gemini key."""
    home.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, v in (settings or {}).items():
        if isinstance(v, dict):
            continue
        lines.append(f"{k} = {json.dumps(v)}")
    for k, v in (settings or {}).items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{json.dumps(a)} = {json.dumps(b)}" for a, b in v.items()]
    (home / "config.toml").write_text("\n".join(lines) + "\n")
    accounts = home / "accounts"
    accounts.mkdir(exist_ok=True)
    for i, key in enumerate(keys or [], 1):
        (accounts / f"key-{i}.json").write_text(json.dumps(
            {"kind": "gemini_api_key", "api_key": key, "label": f"key-{i}"}))
    return home


class FlowRecorder:
    """Keeps every finished flow, as mitmweb's view would, so tests can read comments and bodies."""

    def __init__(self) -> None:
        self.flows: list = []

    def response(self, flow) -> None:
        self.flows.append(flow)

    def error(self, flow) -> None:
        self.flows.append(flow)


class RunningGateway:
    """Start with `RunningGateway(home).start()`; `stop()` when done (the fixture does it).

    One at a time per process: mitmproxy hands every flow to its process-global master.
    """

    def __init__(self, home: Path, options: dict[str, Any] | None = None, listen_host: str = "127.0.0.1") -> None:
        self.home = home
        self.options = options or {}
        self.listen_host = listen_host
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._thread, daemon=True, name="gateway")
        self.sim: Simulator | None = None
        self.master: DumpMaster | None = None
        self.addon: Gateway | None = None
        self.recorder = FlowRecorder()
        self.port = 0
        self._ready: Future = Future()
        self._stopped: Future = Future()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> RunningGateway:
        self.thread.start()
        self._ready.result(timeout)
        return self

    def stop(self) -> None:
        if self.master is not None and not self.loop.is_closed():
            try:
                self.master.shutdown()
            except RuntimeError:  # the loop closed between the check and the call
                pass
        try:
            self._stopped.result(20)
        finally:
            self.thread.join(5)

    def call(self, coro, timeout: float = 60.0):
        """Run a coroutine on the gateway's loop (e.g. to look at the simulator's log)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _thread(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as e:  # noqa: BLE001 - reported to the test thread
            if not self._ready.done():
                self._ready.set_exception(e)
        finally:
            leftover = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in leftover:  # e.g. handlers of client connections an SDK kept alive
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            self.loop.close()
            if not self._stopped.done():
                self._stopped.set_result(None)

    async def _main(self) -> None:
        self.sim = Simulator()
        await self.sim.start(host="127.0.0.1", port=0)
        opts = Options(mode=[f"reverse:{self.sim.url}@{self.listen_host}:0"])
        self.master = DumpMaster(opts, with_termlog=False, with_dumper=False)
        self.master.options.update_defer(interlock_home=str(self.home), **self.options)
        self.addon = Gateway()
        self.master.addons.add(self.addon, self.recorder)
        task = asyncio.ensure_future(self.master.run())
        proxy = self.master.addons.get("proxyserver")
        deadline = time.monotonic() + 15
        while not (proxy.is_running and proxy.listen_addrs() and self.addon.runtime and self.addon.runtime.started):
            if task.done():
                task.result()
                raise RuntimeError("gateway exited during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("gateway did not start")
            await asyncio.sleep(0.01)
        self.port = proxy.listen_addrs()[0][1]
        self._ready.set_result(None)
        try:
            await task
        finally:
            await self.sim.close()
