"""Who may use the gateway: auth modes, where a client's key may sit, and LAN binding rules.

Pure functions over plain values, so every mode × key location × path combination is testable
without a socket.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from addon.errors import AuthError

HEALTH_PATHS = frozenset({"/healthz", "/health"})
KEY_LOCATIONS = ("authorization", "x-api-key", "x-goog-api-key", "?key")


class StartupRefused(Exception):
    """The settings would expose the gateway or lock everyone out; the message says how to fix it."""


def candidate_keys(headers: Mapping[str, str], query: Mapping[str, str]) -> list[str]:
    """Every key the client offered, in precedence order."""
    found: list[str] = []
    auth = headers.get("authorization")
    if auth:
        scheme, _, rest = auth.partition(" ")
        found.append(rest.strip() if scheme.lower() == "bearer" and rest.strip() else auth.strip())
    for name in ("x-api-key", "x-goog-api-key"):
        if value := headers.get(name):
            found.append(value.strip())
    if value := query.get("key"):
        found.append(value.strip())
    return found


def _matches(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode(), expected.encode())


def authorize(mode: str, api_key: str, method: str, path: str,
              headers: Mapping[str, str], query: Mapping[str, str]) -> None:
    """Raise `AuthError` unless this request may pass under `mode` (an effective mode, not auto)."""
    if mode == "off" or method == "OPTIONS":
        return
    if mode == "all_except_health" and path in HEALTH_PATHS:
        return
    offered = candidate_keys(headers, query)
    if not offered:
        raise AuthError("missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key', "
                        "'x-goog-api-key' or '?key='")
    if not api_key or not any(_matches(k, api_key) for k in offered):
        raise AuthError("invalid API key")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_startup(mode: str, api_key: str, listen_hosts: list[str], allow_lan_access: bool,
                  allow_insecure_lan: bool) -> list[str]:
    """Refuse unsafe or unusable settings; return warnings to print for risky-but-allowed ones."""
    warnings: list[str] = []
    exposed = [h for h in listen_hosts if not is_loopback(h)]
    if exposed and not allow_lan_access:
        shown = ", ".join(h or "all interfaces" for h in exposed)
        raise StartupRefused(f"listening on {shown} exposes the account pool to the network; "
                             "set allow_lan_access=true to mean it, or listen on 127.0.0.1")
    if mode != "off" and not api_key:
        raise StartupRefused(f"auth_mode resolves to '{mode}' but api_key is empty: nobody could "
                             "use the gateway. Set api_key in config.toml or --set api_key=…")
    if exposed and mode == "off":
        if not allow_insecure_lan:
            raise StartupRefused("LAN access with auth off lets anyone on the network spend your "
                                 "accounts; turn auth on, or set allow_insecure_lan=true to mean it")
        warnings.append("WARNING: the gateway is reachable from the network WITHOUT authentication "
                        "(allow_insecure_lan=true)")
    return warnings
