"""Accounts from other tools' files: Antigravity Tools (`accounts.json` index and
`accounts/<uuid>.json`) and Gemini CLI (`~/.gemini/oauth_creds.json`).

Pure: a path in, account entries out (plus a note per thing skipped); `store.py` writes them.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from addon.pool.store import OAuthFile, QuotaEntry


class ImportProblem(Exception):
    """A file is not one of the formats we import; the message names it."""


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ImportProblem(f"{path.name}: not readable JSON ({type(e).__name__})") from None


def _jwt_email(id_token: object) -> str | None:
    """The `email` claim of an id_token, read without verifying it (it only labels the account)."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    return claims.get("email") if isinstance(claims, dict) and isinstance(claims.get("email"), str) else None


def _reset(value: object) -> datetime | None:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def antigravity_account(doc: dict, name: str) -> OAuthFile:
    """One `accounts/<uuid>.json` of Antigravity Tools (antigravity-spec §5.1)."""
    token = doc.get("token")
    if not isinstance(token, dict) or not token.get("refresh_token"):
        raise ImportProblem(f"{name}: no token.refresh_token; not an Antigravity account file")
    quota: dict[str, QuotaEntry] = {}
    models = (doc.get("quota") or {}).get("models") if isinstance(doc.get("quota"), dict) else None
    for m in models or []:
        if isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("percentage"), (int, float)):
            quota[m["name"]] = QuotaEntry(remaining=max(0.0, min(1.0, m["percentage"] / 100)),
                                          reset_at=_reset(m.get("reset_time")))
    disabled = bool(doc.get("disabled") or doc.get("proxy_disabled"))
    reason = doc.get("disabled_reason") or doc.get("proxy_disabled_reason")
    expiry = token.get("expiry_timestamp")
    email = doc.get("email") or token.get("email")
    return OAuthFile(
        kind="google_oauth", refresh_token=token["refresh_token"], access_token=token.get("access_token") or None,
        expires_at=float(expiry) if isinstance(expiry, (int, float)) and expiry else None,
        project_id=token.get("project_id") or None, email=email, client=token.get("oauth_client_key") or None,
        label=doc.get("custom_label") or email or doc.get("name"), enabled=not disabled,
        disabled_reason=(reason or "disabled in Antigravity Tools") if disabled else None,
        quota=quota, source="antigravity-tools")


def gemini_cli_creds(doc: dict, name: str) -> OAuthFile:
    """Gemini CLI's `oauth_creds.json`: `expiry_date` is in milliseconds."""
    if not doc.get("refresh_token"):
        raise ImportProblem(f"{name}: no refresh_token; not a Gemini CLI oauth_creds.json")
    expiry = doc.get("expiry_date")
    email = _jwt_email(doc.get("id_token"))
    return OAuthFile(kind="google_oauth", refresh_token=doc["refresh_token"],
                     access_token=doc.get("access_token") or None,
                     expires_at=expiry / 1000 if isinstance(expiry, (int, float)) and expiry else None,
                     email=email, label=email or "gemini-cli", source="gemini-cli")


def read(path: Path) -> tuple[list[OAuthFile], list[str]]:
    """Entries found at `path` (a file, or a directory holding `accounts.json` or `oauth_creds.json`)."""
    path = Path(path).expanduser()
    if path.is_dir():
        for candidate in ("accounts.json", "oauth_creds.json"):
            if (path / candidate).is_file():
                return read(path / candidate)
        raise ImportProblem(f"{path}: holds neither accounts.json nor oauth_creds.json")
    doc = _load(path)
    if not isinstance(doc, dict):
        raise ImportProblem(f"{path.name}: not a JSON object")
    if isinstance(doc.get("accounts"), list):  # the Antigravity index
        entries, notes = [], []
        for item in doc["accounts"]:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            file = path.parent / "accounts" / f"{item['id']}.json"
            try:
                inner = _load(file)
                entries.append(antigravity_account(inner if isinstance(inner, dict) else {}, file.name))
            except ImportProblem as e:
                notes.append(str(e))
        return entries, notes
    if isinstance(doc.get("token"), dict):
        return [antigravity_account(doc, path.name)], []
    if "refresh_token" in doc:
        return [gemini_cli_creds(doc, path.name)], []
    raise ImportProblem(f"{path.name}: neither an Antigravity Tools nor a Gemini CLI account file")
