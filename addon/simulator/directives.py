"""Prompt directives: how a test asks the simulator for a particular answer through a gateway.

The gateway forwards prompt text untouched, so controls ride inside the last user turn:

    [[sim chunks=50 interval_ms=20 first_byte_ms=0 chunk_chars=12]]
    [[sim reply="Hello there" thoughts=3 finish=MAX_TOKENS call=read_file]]

Settings are `name=value` pairs separated by spaces; a value with spaces goes in double quotes.
Several blocks may appear; later ones win. The blocks are removed before the answer quotes the
prompt. An unknown name or a bad value is an error the API reports as 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

_BLOCK = re.compile(r"\[\[sim(?:\s+([^\]]*))?\]\]")
_PAIR = re.compile(r'\s*([a-z_]+)=(?:"([^"]*)"|(\S+))')
_FINISH_REASONS = frozenset({
    "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST",
    "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
})


class DirectiveError(ValueError):
    """A `[[sim …]]` block the simulator cannot follow."""


@dataclass(frozen=True)
class Directives:
    """Every field None means "the simulator's default"."""

    chunks: int | None = None  # answer events (text pieces) in a stream
    chunk_chars: int | None = None  # characters per answer piece
    interval_ms: int | None = None  # pause between stream events
    first_byte_ms: int | None = None  # pause before the status line
    thoughts: int | None = None  # thought summaries when thoughts are asked for
    reply: str | None = None  # the exact answer text
    call: str | None = None  # call this declared function
    finish: str | None = None  # finishReason of the last event
    cached: int | None = None  # prompt tokens reported as served from a context cache


_INTS = {"chunks": (1, 100_000), "chunk_chars": (1, 1_000_000), "interval_ms": (0, 600_000),
         "first_byte_ms": (0, 600_000), "thoughts": (0, 1000),
         "cached": (0, 10_000_000)}
_NAMES = {f.name for f in fields(Directives)}


def parse(text: str) -> tuple[Directives, str]:
    """The directives found in `text`, and `text` without them."""
    values: dict[str, object] = {}
    for block in _BLOCK.finditer(text):
        body = block.group(1) or ""
        pos = 0
        while body[pos:].strip():
            m = _PAIR.match(body, pos)
            if not m:
                raise DirectiveError(f"cannot read simulator directive near {body[pos:]!r}")
            name, value = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
            values[name] = _convert(name, value)
            pos = m.end()
    return Directives(**values), _BLOCK.sub("", text)  # type: ignore[arg-type]


def _convert(name: str, value: str) -> object:
    if name not in _NAMES:
        raise DirectiveError(f"unknown simulator directive {name!r}; known: {sorted(_NAMES)}")
    if name in _INTS:
        low, high = _INTS[name]
        if not value.isdigit() or not low <= int(value) <= high:
            raise DirectiveError(f"simulator directive {name} wants an integer in "
                                 f"[{low}, {high}], got {value!r}")
        return int(value)
    if name == "finish":
        if value.upper() not in _FINISH_REASONS:
            raise DirectiveError(f"unknown finish reason {value!r}")
        return value.upper()
    if name == "reply" and not value:
        raise DirectiveError("simulator directive reply must not be empty")
    return value
