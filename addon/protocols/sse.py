"""Server-sent events, incrementally: bytes in (split anywhere), whole events out.

Accepts LF, CRLF and CR line ends (the SSE spec's three). Google's streaming endpoints also write
a raw JSON error object with no `data:` prefix into an open stream; the decoder returns such a
block as one event with `raw=True` instead of dropping it, so the caller can end the stream
truthfully.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_EOL = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    raw: bool = False


class SSEDecoder:
    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._raw: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[SSEEvent] = []
        pos = 0
        end = len(buf)
        for m in _EOL.finditer(buf):
            if m.end() == end and buf[m.start()] == 0x0D and m.end() - m.start() == 1:
                break  # a lone CR at the end may be the first half of CRLF
            self._line(buf[pos:m.start()], out)
            pos = m.end()
        self._buf = buf[pos:]
        return out

    def close(self) -> list[SSEEvent]:
        """Events still pending when the stream ends without a final blank line."""
        out: list[SSEEvent] = []
        rest = self._buf.rstrip(b"\r")
        self._buf = b""
        if rest:
            self._line(rest, out)
        self._line(b"", out)
        if self._raw:
            out.append(SSEEvent(b"\n".join(self._raw).decode("utf-8", "replace"), raw=True))
            self._raw = []
        return out

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if self._raw or (not self._data and line[:1] in (b"{", b"[")):
            self._raw.append(line)
            text = b"\n".join(self._raw)
            try:
                json.loads(text)
            except ValueError:
                return
            self._raw = []
            out.append(SSEEvent(text.decode("utf-8", "replace"), raw=True))
            return
        if not line:
            if self._data:
                out.append(SSEEvent(b"\n".join(self._data).decode("utf-8", "replace"),
                                    self._event.decode("utf-8", "replace") if self._event else None))
            self._data = []
            self._event = None
            return
        if line[:1] == b":":
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value


def encode(data: str, event: str | None = None, eol: bytes = b"\n") -> bytes:
    """One event on the wire; `data` must hold no line breaks (compact JSON never does)."""
    head = b"event: " + event.encode() + eol if event else b""
    return head + b"data: " + data.encode() + eol + eol


def dumps(obj: object) -> str:
    """Compact JSON as every SSE payload of ours is written."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
