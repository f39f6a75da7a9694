"""Where the pool keeps what must outlive a restart: cooldowns, strike counts, usage.

One small interface, so a shared backend (Redis, for a team running several gateways) can
replace the JSON file later. The file is written atomically and read leniently: a broken state
file costs the remembered cooldowns, never a start.
"""

from __future__ import annotations

import json
import logging
import threading
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
    """`$INTERLOCK_HOME/pool-state.json`: wall-clock times, so cooldowns mean the same after a restart.

    `save` is called from the event loop on every cooldown, so the atomic write (two fsyncs) runs
    on one writer thread; saves that pile up while it writes collapse into the newest one.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pending: dict | None = None
        self._writing = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

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
        with self._cond:
            self._pending = doc
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pool-state", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every save so far is on disk (at shutdown)."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending is None and not self._writing, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None)
                doc, self._pending, self._writing = self._pending, None, True
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode())
            except OSError as e:
                log.warning("pool state %s not saved (%s); the next save tries again", self.path.name, e)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
