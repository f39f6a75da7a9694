from __future__ import annotations

import httpx
import pytest

from addon.simulator import Simulator


@pytest.fixture
async def sim():
    """A simulator on a free port that paces nothing, for tests that look at bytes, not time."""
    simulator = Simulator(interval_ms=0)
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.close()


@pytest.fixture
async def client(sim):
    async with httpx.AsyncClient(base_url=sim.url, headers={"x-goog-api-key": "demo-key-1"}, timeout=10) as c:
        yield c
