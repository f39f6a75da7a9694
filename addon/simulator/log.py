"""The request log tests read: what arrived, what was answered, and when each event left."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LogRecord:
    method: str
    path: str
    api_key: str | None
    t_start: float
    model: str | None = None
    status: int | None = None
    stream: bool = False
    event_times: list[float] = field(default_factory=list)  # monotonic, after each drain
    fault: str | None = None  # the injected fault that shaped the answer
    client_gone: bool = False  # the client left before the answer was complete
    request: dict[str, Any] | None = None  # the generate request body as parsed
    response_id: str | None = None  # the `responseId` of a generated answer, to pair it with the client's

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
