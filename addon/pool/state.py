"""Where the pool keeps what must outlive a restart: cooldowns, strike counts, usage.

One small interface, so a shared backend (Redis, for a team running several gateways) can
replace the JSON file later. The file is written atomically and read leniently: a broken state
file costs the remembered cooldowns, never a start.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

from addon.pool.store import write_atomic

log = logging.getLogger(__name__)

STATE_FILE = "pool-state.json"


class PoolState(Protocol):
    def load(self) -> dict: ...

    def save(self, doc: dict) -> None: ...


class MemoryState:
    """The default for tests and demo mode: nothing survives the process."""

    def __init__(self, doc: dict | None = None) -> None:
        self.doc = dict(doc or {})

    def load(self) -> dict:
        return dict(self.doc)

    def save(self, doc: dict) -> None:
        self.doc = dict(doc)


class StateFile:
    """`$INTERLOCK_HOME/pool-state.json`: wall-clock times, so cooldowns mean the same after a restart."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict:
        try:
            doc = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("pool state %s unreadable (%s); starting without remembered cooldowns",
                        self.path.name, type(e).__name__)
            return {}
        return doc if isinstance(doc, dict) else {}

    def save(self, doc: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode())
