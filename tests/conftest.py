from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import API_KEY, RunningGateway, write_home  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _no_real_home(tmp_path_factory):
    """Nothing a test starts may read or write the developer's ~/.interlock."""
    mp = pytest.MonkeyPatch()
    mp.setenv("INTERLOCK_HOME", str(tmp_path_factory.mktemp("default-home")))
    yield
    mp.undo()


@pytest.fixture
def start_gateway(tmp_path):
    """Factory: start_gateway(keys=[…], settings={…}, options={…}) → a RunningGateway."""
    started: list[RunningGateway] = []

    def start(keys: list[str] | None = None, settings: dict | None = None, options: dict | None = None,
              listen_host: str = "127.0.0.1") -> RunningGateway:
        home = write_home(tmp_path / f"home{len(started)}", {"api_key": API_KEY, **(settings or {})},
                          keys if keys is not None else ["good-key-1", "good-key-2"])
        gw = RunningGateway(home, options, listen_host)
        started.append(gw)
        return gw.start()

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture
def gateway(start_gateway) -> RunningGateway:
    """A gateway with auth off (the default on loopback) and two healthy API-key accounts."""
    return start_gateway()


@pytest.fixture(scope="module")
def zai():
    """An Anthropic-compatible upstream (the simulator's Anthropic mode and MCP servers) in its own thread."""
    from upstreams import SimThread

    sim = SimThread().start()
    yield sim
    sim.stop()
