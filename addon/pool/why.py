"""Scheduling decisions of the current request, collected only when the client asks for them
(`x-interlock-debug: 1`) and answered in the `x-interlock-why` header.

A context variable, so the dispatcher can note decisions without every endpoint passing a list.
"""

from __future__ import annotations

from contextvars import ContextVar

_notes: ContextVar[list[str] | None] = ContextVar("interlock_why", default=None)


def start(wanted: bool):
    """Begin collecting for this request (or not); returns the token `stop` needs."""
    return _notes.set([] if wanted else None)


def wanted() -> bool:
    return _notes.get() is not None


def note(text: str) -> None:
    notes = _notes.get()
    if notes is not None:
        notes.append(text)


def stop(token) -> str | None:
    """The header value (ASCII, one line), or None when nothing was asked or noted."""
    notes = _notes.get()
    _notes.reset(token)
    if not notes:
        return None
    text = " | ".join(" ".join(n.split()) for n in notes)
    return text.encode("ascii", "replace").decode()[:8000]
