"""Bytes on the wire, in the exact style Google's front ends write them.

Unary bodies are pretty-printed with a 2-space indent and a trailing newline; SSE events are one
`data:` line of compact JSON with `": "` after keys and a bare `,` between items, each followed by
CRLF CRLF; without `alt=sse` a stream is one JSON array whose elements arrive one by one. Strings
stay UTF-8, never `\\u` escapes, as in the captures.
"""

from __future__ import annotations

import json
from typing import Any

SSE_SEPARATOR = b"\r\n\r\n"
ARRAY_SEPARATOR = b"\n,\r\n"


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ": "), ensure_ascii=False)


def pretty(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def unary_body(obj: Any) -> bytes:
    return (pretty(obj) + "\n").encode()


def sse_event(obj: Any) -> bytes:
    return b"data: " + compact(obj).encode() + SSE_SEPARATOR


def array_element(obj: Any, first: bool) -> bytes:
    """One element of a streamed JSON array: `[` before the first, `\\n,\\r\\n` before the rest."""
    return (b"[" if first else ARRAY_SEPARATOR) + pretty(obj).encode()


def array_end(empty: bool) -> bytes:
    return b"[]" if empty else b"\n]"


def raw_error(obj: Any) -> bytes:
    """A mid-stream error as the API writes it: the pretty object with no `data:` prefix."""
    return unary_body(obj)
