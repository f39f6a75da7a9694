"""Thought signatures we have seen the upstream issue, so that echoed history can be trusted (SPEC §4).

An upstream signs its thinking with an opaque `thoughtSignature`; the next turn must carry it back
unchanged, on the part it came with, and only to the model family that issued it (a foreign or
made-up signature is a 400: "Invalid `signature` in `thinking` block", "Corrupted thought
signature"). Clients echo Anthropic thinking blocks but not the signature of a `functionCall`, and
may replay history from another model or another gateway. So the gateway remembers
(model family, hash of the thinking text) → signature and tool-call id → signature, each for a
TTL, and trusts an echoed signature only when it finds it there. It never invents one.

The store is in memory behind this one class (a shared backend can replace it); the clock is
injected so tests need no sleeping.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from addon.models import family_of

DEFAULT_TTL_S = 3 * 3600.0
DEFAULT_MAX_ENTRIES = 20_000
MIN_LENGTH = 8
"""Shorter strings are placeholders some clients send, not signatures."""


def _text_key(family: str, thinking: str) -> str:
    return "t:" + family + ":" + hashlib.sha256(thinking.encode("utf-8", "surrogatepass")).hexdigest()


class SignatureCache:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def remember_thinking(self, model: str, thinking: str, signature: str) -> None:
        """The upstream serving `model` signed this thinking text."""
        if len(signature) >= MIN_LENGTH:
            self._put(_text_key(family_of(model), thinking), signature)

    def remember_call(self, model: str, call_id: str, signature: str) -> None:
        """The upstream serving `model` signed the function call the client knows as `call_id`."""
        if call_id and len(signature) >= MIN_LENGTH:
            self._put("c:" + family_of(model) + ":" + call_id, signature)

    def trusted(self, model: str, thinking: str, signature: str | None) -> bool:
        """Whether `signature` is the one this model family issued for this thinking text."""
        if not signature:
            return False
        return self._get(_text_key(family_of(model), thinking)) == signature

    def for_call(self, model: str, call_id: str) -> str | None:
        """The signature issued with this function call by this model family, if still known."""
        return self._get("c:" + family_of(model) + ":" + call_id) if call_id else None

    def is_known_call_signature(self, model: str, call_id: str, signature: str) -> bool:
        return bool(signature) and self.for_call(model, call_id) == signature

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, key: str, signature: str) -> None:
        self._entries[key] = (self._clock() + self.ttl_s, signature)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, signature = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries[key] = (self._clock() + self.ttl_s, signature)  # sliding: in use, kept
        self._entries.move_to_end(key)
        return signature


CACHE = SignatureCache()
"""The gateway process's store; endpoints use it, tests make their own."""
