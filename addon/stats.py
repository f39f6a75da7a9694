"""Usage in SQLite: one row per finished request in `$INTERLOCK_HOME/stats.sqlite3`.

Writes happen on one background thread fed by a queue, so the event loop never waits for the
disk; each batch is one transaction in a WAL database, so a crash loses at most the rows still
queued, never the file. Reading (`summary`) is plain SQL for `interlock stats`.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from addon.record import ExchangeRecord

log = logging.getLogger(__name__)

FILENAME = "stats.sqlite3"
SCHEMA_VERSION = 1
COLUMNS = ("ts", "protocol", "route", "method", "path", "client_model", "mapped_model", "account", "status",
           "attempts", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cached_tokens",
           "thinking_tokens", "outcome", "error_class")
SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,              -- unix seconds when the request arrived
    protocol TEXT NOT NULL,        -- openai | anthropic | gemini
    route TEXT NOT NULL,           -- handler name from routes.py ('' when unrouted)
    method TEXT NOT NULL,
    path TEXT NOT NULL,            -- without the query string (it may hold a key)
    client_model TEXT NOT NULL,
    mapped_model TEXT NOT NULL,
    account TEXT NOT NULL,         -- account label ('' for local answers)
    status INTEGER NOT NULL,       -- status the client got
    attempts INTEGER NOT NULL,
    latency_ms REAL,
    ttfb_ms REAL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    thinking_tokens INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL,         -- ok | error | cut short
    error_class TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts);
"""
_STOP = object()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return conn


def row_from(rec: ExchangeRecord) -> dict[str, Any]:
    usage = rec.usage
    return {
        "ts": rec.started, "protocol": rec.protocol, "route": rec.route, "method": rec.method,
        "path": rec.path.split("?", 1)[0], "client_model": rec.client_model, "mapped_model": rec.mapped_model,
        "account": rec.account, "status": rec.status, "attempts": len(rec.attempts),
        "latency_ms": round(rec.latency_s * 1000, 1) if rec.latency_s is not None else None,
        "ttfb_ms": round(rec.first_byte_s * 1000, 1) if rec.first_byte_s is not None else None,
        "input_tokens": usage.input, "output_tokens": usage.output, "cached_tokens": usage.cached,
        "thinking_tokens": usage.thinking, "outcome": rec.outcome, "error_class": rec.error_class,
    }


class StatsWriter:
    """`add(row)` from any thread, never blocking; one thread owns the connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="interlock-stats", daemon=True)
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        self._queue.put(row)

    def record(self, rec: ExchangeRecord) -> None:
        self.add(row_from(rec))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row added so far is committed (for tests and shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
        except (OSError, sqlite3.Error) as e:
            log.warning(f"interlock: stats disabled, cannot open {self.path}: {e}")
            conn = None
        insert = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        stop = False
        while not stop:
            items = [self._queue.get()]
            while len(items) < 500:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [tuple(i.get(c) for c in COLUMNS) for i in items if isinstance(i, dict)]
            if rows and conn is not None:
                try:
                    conn.execute("BEGIN")
                    conn.executemany(insert, rows)
                    conn.execute("COMMIT")
                except sqlite3.Error as e:
                    if conn.in_transaction:
                        conn.rollback()
                    log.warning(f"interlock: {len(rows)} stats row(s) not written: {e}")
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
                stop = stop or item is _STOP
        if conn is not None:
            conn.close()


# --- reading ---------------------------------------------------------------------------------

_SUMS = """COUNT(*) AS requests,
    SUM(CASE WHEN status >= 400 OR outcome != 'ok' THEN 1 ELSE 0 END) AS errors,
    SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
    SUM(cached_tokens) AS cached_tokens, SUM(thinking_tokens) AS thinking_tokens,
    SUM(input_tokens + output_tokens + thinking_tokens) AS total_tokens,
    ROUND(AVG(latency_ms), 1) AS avg_latency_ms, ROUND(AVG(ttfb_ms), 1) AS avg_ttfb_ms"""
GROUPS = {
    "account": "CASE WHEN account = '' THEN '(local)' ELSE account END",
    "model": "COALESCE(NULLIF(mapped_model, ''), NULLIF(client_model, ''), '(none)')",
    "hour": "strftime('%Y-%m-%d %H:00', ts, 'unixepoch', 'localtime')",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch', 'localtime')",
}


def summary(path: Path, since: float | None = None) -> dict[str, Any]:
    """Totals and the four breakdowns `interlock stats` shows, for rows at or after `since`."""
    result: dict[str, Any] = {"database": str(path), "since": since, "generated": time.time()}
    empty = {"totals": _zero(), **{f"by_{g}": [] for g in GROUPS}}
    if not path.exists():
        return {**result, **empty}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    try:
        where, args = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
        totals = dict(conn.execute(f"SELECT {_SUMS} FROM requests {where}", args).fetchone())
        result["totals"] = {k: v or 0 for k, v in totals.items()}
        for name, expr in GROUPS.items():
            order = "key" if name in ("hour", "day") else "total_tokens DESC, requests DESC"
            rows = conn.execute(f"SELECT {expr} AS key, {_SUMS} FROM requests {where} GROUP BY key "
                                f"ORDER BY {order}", args).fetchall()
            result[f"by_{name}"] = [{name: r["key"], **{k: r[k] or 0 for k in r.keys() if k != "key"}}
                                    for r in rows]
    except sqlite3.OperationalError as e:  # e.g. no table yet: nothing recorded
        if "no such table" not in str(e):
            raise
        result.update(empty)
    finally:
        conn.close()
    return result


def _zero() -> dict[str, Any]:
    return {k: 0 for k in ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens",
                           "thinking_tokens", "total_tokens", "avg_latency_ms", "avg_ttfb_ms")}
