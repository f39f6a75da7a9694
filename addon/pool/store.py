"""The account files: one pydantic-validated JSON file per account under `accounts/`.

Every write is atomic (temp file, fsync, rename, fsync of the directory) and happens under one
cross-process lock (`accounts/.lock`, fcntl), so the gateway refreshing a token and
`interlock accounts disable` in another terminal never lose each other's change, and a crash at
any instant leaves the old file or the new one, never half of either. A file that does not parse
or validate is reported by name and skipped; updates refuse to touch it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from addon.pool.accounts import Account, Quota

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class StoreError(Exception):
    """An account file cannot be read or changed; the message names the file, never a secret."""


class QuotaEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    remaining: float = Field(ge=0.0, le=1.0)
    reset_at: datetime | None = None


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown keys survive a rewrite

    label: str | None = None
    email: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    weight: float = Field(1.0, gt=0)
    max_concurrent: int | None = Field(None, ge=1)
    models: list[str] = Field(default_factory=list)
    base_url: str | None = None
    quota: dict[str, QuotaEntry] = Field(default_factory=dict)
    created_at: float | None = None
    source: str | None = None


class GeminiKeyFile(_Common):
    kind: Literal["gemini_api_key"]
    api_key: str = Field(min_length=1)


class AnthropicKeyFile(_Common):
    kind: Literal["anthropic_key"]
    api_key: str = Field(min_length=1)


class OAuthFile(_Common):
    kind: Literal["google_oauth"]
    refresh_token: str = Field(min_length=1)
    client_id: str | None = None
    client: str | None = None  # the settings' name of the OAuth client that issued the refresh token
    access_token: str | None = None
    expires_at: float | None = None  # unix seconds
    project_id: str | None = None
    tier: str | None = None


AccountFile = Annotated[GeminiKeyFile | AnthropicKeyFile | OAuthFile, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[GeminiKeyFile | AnthropicKeyFile | OAuthFile] = TypeAdapter(AccountFile)


def parse(raw: Any) -> GeminiKeyFile | AnthropicKeyFile | OAuthFile:
    return _ADAPTER.validate_python(raw)


def secret_of(entry: GeminiKeyFile | AnthropicKeyFile | OAuthFile) -> str:
    """What identifies an account upstream, for duplicate checks."""
    return entry.refresh_token if isinstance(entry, OAuthFile) else entry.api_key


def to_account(account_id: str, entry: GeminiKeyFile | AnthropicKeyFile | OAuthFile) -> Account:
    quota = tuple(Quota(m, q.remaining, q.reset_at.timestamp() if q.reset_at else None)
                  for m, q in sorted(entry.quota.items()))
    common = dict(label=entry.label or entry.email or account_id, enabled=entry.enabled,
                  base_url=entry.base_url, email=entry.email, disabled_reason=entry.disabled_reason,
                  weight=entry.weight, max_concurrent=entry.max_concurrent, models=tuple(entry.models),
                  quota=quota)
    if isinstance(entry, OAuthFile):
        return Account(account_id, entry.kind, entry.access_token or "", refresh_token=entry.refresh_token,
                       client_id=entry.client_id, expires_at=entry.expires_at, client=entry.client,
                       project_id=entry.project_id, tier=entry.tier, **common)
    return Account(account_id, entry.kind, entry.api_key, **common)


def _problem(name: str, err: Exception) -> str:
    if isinstance(err, ValidationError):
        fields = ", ".join(".".join(map(str, e["loc"])) or "(file)" for e in err.errors())
        return f"{name}: invalid field(s) {fields}; skipped"
    return f"{name}: not readable JSON ({type(err).__name__}); skipped"


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Temp file in the same directory, fsync, rename over `path`, fsync the directory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AccountStore:
    """`accounts/<id>.json` files. Reads need no lock (renames are atomic); writes take it."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    # reading

    def load(self) -> tuple[list[Account], list[str]]:
        """Every valid account, and one problem line per file that was skipped."""
        accounts: list[Account] = []
        problems: list[str] = []
        for account_id, entry in self.entries(problems):
            accounts.append(to_account(account_id, entry))
        for line in problems:
            log.warning("accounts: %s", line)
        return accounts, problems

    def entries(self, problems: list[str] | None = None) -> Iterator[tuple[str, Any]]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                yield path.stem, self._read(path)
            except StoreError as e:
                if problems is not None:
                    problems.append(str(e))

    def read(self, account_id: str) -> GeminiKeyFile | AnthropicKeyFile | OAuthFile:
        return self._read(self.path(account_id))

    def _read(self, path: Path) -> GeminiKeyFile | AnthropicKeyFile | OAuthFile:
        try:
            return parse(json.loads(path.read_bytes()))
        except FileNotFoundError:
            raise StoreError(f"{path.name}: no such account") from None
        except (OSError, ValueError) as e:  # ValidationError is a ValueError
            raise StoreError(_problem(path.name, e)) from None

    def signature(self) -> tuple:
        """Changes whenever a file is added, removed or rewritten (also by hand, in place)."""
        try:
            entries = sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size)
                             for e in os.scandir(self.directory) if e.name.endswith(".json"))
        except OSError:
            return ()
        return tuple(entries)

    def path(self, account_id: str) -> Path:
        if not _ID.match(account_id):
            raise StoreError(f"{account_id!r} is not an account id")
        return self.directory / f"{account_id}.json"

    # writing

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The cross-process write lock; stale temp files of crashed writers are removed under it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            for stale in self.directory.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write(self, account_id: str, entry: BaseModel) -> None:
        doc = entry.model_dump(mode="json", exclude_none=True)
        data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        write_atomic(self.path(account_id), data)

    def create(self, entry: GeminiKeyFile | AnthropicKeyFile | OAuthFile, account_id: str | None = None) -> str:
        """Store a new account; refuses a duplicate secret. Returns the id (never derived from the secret)."""
        with self.locked():
            for other_id, other in self.entries():
                if secret_of(other) == secret_of(entry):
                    raise StoreError(f"this {entry.kind} is already stored as account {other_id}")
            account_id = account_id or self._new_id(entry)
            if self.path(account_id).exists():
                raise StoreError(f"{account_id}.json already exists")
            if entry.created_at is None:
                entry.created_at = time.time()
            self._write(account_id, entry)
        return account_id

    def _new_id(self, entry: BaseModel) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", getattr(entry, "label", None) or "").strip("-.")[:40]
        if base and not self.path(base).exists():
            return base
        stem = base or {"gemini_api_key": "gemini", "google_oauth": "google"}.get(getattr(entry, "kind"), "anthropic")
        while True:
            candidate = f"{stem}-{secrets.token_hex(3)}"
            if not self.path(candidate).exists():
                return candidate

    def update(self, account_id: str, **changes: Any) -> GeminiKeyFile | AnthropicKeyFile | OAuthFile:
        """Read, change, validate and write one account under the lock; a broken file is left alone."""
        with self.locked():
            try:
                current = self.read(account_id)
            except StoreError as e:
                raise StoreError(str(e).replace("; skipped", "; left untouched")) from None
            doc = current.model_dump(mode="json")
            doc.update(changes)
            try:
                entry = parse(doc)
            except ValidationError as e:
                raise StoreError(_problem(f"{account_id}.json", e).replace("; skipped", "")) from None
            self._write(account_id, entry)
            return entry

    def remove(self, account_id: str) -> None:
        with self.locked():
            path = self.path(account_id)
            if not path.exists():
                raise StoreError(f"{path.name}: no such account")
            path.unlink()
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
