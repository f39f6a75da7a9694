"""Stored Responses (`store: true`), so `previous_response_id` works across requests and restarts.

One SQLite table in the data directory (`responses.sqlite3`): the response object a client may
fetch again, and the conversation behind it in hub form (system parts, contents with call ids
and thought signatures), which is what a follow-up request continues. Bounded twice: rows expire
after a TTL, and beyond `max_rows` the oldest go first. The clock is injected so tests need no
sleeping. Each call opens its own short connection: requests are few and small, and it keeps
the store safe to use from any thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from addon.protocols.openai_responses import Prior

FILE = "responses.sqlite3"
DEFAULT_TTL_S = 30 * 24 * 3600.0
"""OpenAI keeps stored responses for 30 days."""
DEFAULT_MAX_ROWS = 5_000

_SCHEMA = """CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, created REAL NOT NULL, expires REAL NOT NULL,
    response TEXT NOT NULL, conversation TEXT NOT NULL)"""


class ResponseStore:
    def __init__(self, path: Path, ttl_s: float = DEFAULT_TTL_S, max_rows: int = DEFAULT_MAX_ROWS,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self.max_rows = max_rows
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5)

    def put(self, response: dict, conversation: Prior) -> None:
        now = self._clock()
        doc = json.dumps({"system": conversation.system, "contents": conversation.contents}, ensure_ascii=False)
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                       (response["id"], now, now + self.ttl_s, json.dumps(response, ensure_ascii=False), doc))
            db.execute("DELETE FROM responses WHERE expires <= ?", (now,))
            db.execute("DELETE FROM responses WHERE id NOT IN (SELECT id FROM responses ORDER BY created DESC "
                       "LIMIT ?)", (self.max_rows,))

    def get(self, response_id: str) -> tuple[dict, Prior] | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT response, conversation FROM responses WHERE id = ? AND expires > ?",
                             (response_id, self._clock())).fetchone()
        if row is None:
            return None
        conversation = json.loads(row[1])
        return json.loads(row[0]), Prior(conversation["system"], conversation["contents"])

    def delete(self, response_id: str) -> bool:
        with closing(self._connect()) as db, db:
            return db.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0

    def __len__(self) -> int:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM responses WHERE expires > ?", (self._clock(),)).fetchone()[0]
