"""Accounts as stored: one JSON file per account under `$INTERLOCK_HOME/accounts/`.

Read-only here; a file that does not parse or validate is reported by name and skipped, never
rewritten.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)


class GeminiKeyFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: Literal["gemini_api_key"]
    api_key: str = Field(min_length=1)
    label: str | None = None
    enabled: bool = True
    base_url: str | None = None


@dataclass(frozen=True)
class Account:
    """One upstream identity. `secret` never leaves the process unmasked."""

    id: str
    kind: str
    secret: str
    label: str
    enabled: bool = True
    base_url: str | None = None

    @property
    def masked(self) -> str:
        return mask(self.secret)

    def __repr__(self) -> str:
        return f"Account({self.id!r}, {self.kind}, {self.masked})"


def mask(secret: str) -> str:
    """`ya29.…abcd`: the prefix says what it is, the tail which one."""
    if len(secret) <= 8:
        return "…" + secret[-2:] if secret else ""
    head = secret.split(".", 1)[0] + "." if "." in secret[:8] else secret[:4]
    return f"{head}…{secret[-4:]}"


def load_dir(directory: Path) -> tuple[list[Account], list[str]]:
    """Accounts from `directory/*.json`, plus one problem line per file that was skipped."""
    accounts: list[Account] = []
    problems: list[str] = []
    if not directory.is_dir():
        return accounts, problems
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            problems.append(f"{path.name}: not readable JSON ({e}); skipped")
            continue
        if not isinstance(raw, dict) or raw.get("kind") != "gemini_api_key":
            kind = raw.get("kind") if isinstance(raw, dict) else None
            problems.append(f"{path.name}: account kind {kind!r} is not served yet; skipped")
            continue
        try:
            entry = GeminiKeyFile.model_validate(raw)
        except ValidationError as e:
            fields = ", ".join(".".join(map(str, err["loc"])) for err in e.errors())
            problems.append(f"{path.name}: invalid field(s) {fields}; skipped")
            continue
        accounts.append(Account(path.stem, entry.kind, entry.api_key, entry.label or path.stem,
                                entry.enabled, entry.base_url))
    for line in problems:
        log.warning("accounts: %s", line)
    return accounts, problems
