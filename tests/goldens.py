"""Golden files: compare produced bytes exactly; `INTERLOCK_REGOLD=1` rewrites them instead
(review the diff before committing)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from addon.protocols.sse import SSEDecoder


class Golden:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def check(self, name: str, produced: bytes) -> None:
        path = self.directory / name
        if os.environ.get("INTERLOCK_REGOLD"):
            path.write_bytes(produced)
        assert produced == path.read_bytes(), name


def parse_sse(raw: bytes) -> list[tuple[str | None, dict]]:
    """Every event of an SSE body as (event name, JSON data)."""
    d = SSEDecoder()
    return [(e.event, json.loads(e.data)) for e in d.feed(raw) + d.close()]
