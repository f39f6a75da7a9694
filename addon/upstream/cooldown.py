"""How long an upstream told us to stay away, read from its own words.

Sources, strongest first: `ErrorInfo.metadata.quotaResetDelay` ("2h37m22.77s") or
`quotaResetTimeStamp` (RFC3339),
`RetryInfo.retryDelay` ("47s"), the `Retry-After` header (seconds or an HTTP date), and the
"Please retry in 47.17s." sentence Google puts in the message. No hint → `None`, and the caller
applies its own escalating default.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from datetime import datetime, timezone
from collections.abc import Mapping
from dataclasses import dataclass

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.I)
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class UpstreamFault:
    """What an upstream error body says, reduced to what the attempt loop needs."""

    status: int
    message: str
    google_status: str | None = None
    reason: str | None = None          # ErrorInfo.reason, e.g. QUOTA_EXHAUSTED
    retry_after_s: float | None = None
    quota_ids: tuple[str, ...] = ()    # QuotaFailure.violations[].quotaId

    @property
    def kind(self) -> str:
        """quota | capacity | rate | auth | server: picks the escalating default when there is no hint."""
        if self.status in (401, 403):
            return "auth"
        if self.reason == "MODEL_CAPACITY_EXHAUSTED":
            return "capacity"
        if self.status != 429:
            return "server"
        if self.reason == "QUOTA_EXHAUSTED" or "exhausted your capacity" in self.message.lower() or any(
                "PerDay" in q or "Daily" in q for q in self.quota_ids):
            return "quota"
        return "rate"

    @property
    def per_model(self) -> bool:
        """Quota errors bind to one account and model; the rest to the whole account."""
        return self.status == 429 and self.reason not in ("RATE_LIMIT_EXCEEDED",)


def parse_duration(text: str) -> float | None:
    """'47s', '1.5s', '2h37m22.77s', '500ms' → seconds."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _error_object(body: bytes) -> dict:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    if isinstance(doc, list) and doc:
        doc = doc[0]
    err = doc.get("error") if isinstance(doc, dict) else None
    return err if isinstance(err, dict) else {}


def read_fault(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFault:
    err = _error_object(body)
    message = err.get("message") if isinstance(err.get("message"), str) else ""
    if not message:
        message = body[:300].decode("utf-8", "replace").strip() or f"HTTP {status}"
    reason = None
    hints: list[float] = []
    quota_ids: list[str] = []
    for detail in err.get("details") or []:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.ErrorInfo"):
            reason = detail.get("reason") or reason
            meta = detail.get("metadata") or {}
            if isinstance(meta, dict) and isinstance(meta.get("quotaResetDelay"), str):
                if (d := parse_duration(meta["quotaResetDelay"])) is not None:
                    hints.insert(0, d)
            elif isinstance(meta, dict) and isinstance(meta.get("quotaResetTimeStamp"), str):
                if (d := _until(meta["quotaResetTimeStamp"])) is not None:
                    hints.insert(0, d)
        elif kind.endswith("google.rpc.QuotaFailure"):
            quota_ids += [str(v.get("quotaId")) for v in detail.get("violations") or []
                          if isinstance(v, dict) and v.get("quotaId")]
        elif kind.endswith("google.rpc.RetryInfo") and isinstance(detail.get("retryDelay"), str):
            if (d := parse_duration(detail["retryDelay"])) is not None:
                hints.append(d)
    if (h := parse_retry_after(headers.get("retry-after"))) is not None:
        hints.append(h)
    if not hints and (m := _RETRY_IN.search(message)):
        hints.append(float(m.group(1)) * _UNIT[m.group(2)])
    return UpstreamFault(status, message, err.get("status") if isinstance(err.get("status"), str) else None,
                         reason, hints[0] if hints else None, tuple(quota_ids))


def _until(stamp: str) -> float | None:
    """Seconds from now until an RFC3339 time stamp; None if it does not parse."""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())
