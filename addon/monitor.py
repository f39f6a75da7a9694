"""What mitmweb shows of an exchange: the client's request as sent (secrets masked), the
translated answer, and a comment naming the upstream and every attempt.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from mitmproxy import http

from addon.errors import AttemptRecord
from addon.pool.accounts import mask

SECRET_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "proxy-authorization", "cookie")
SECRET_QUERY = ("key", "api_key")
_CLIENT_VIEW = "interlock_client_request"


def mask_header_value(name: str, value: str) -> str:
    scheme, sep, rest = value.partition(" ")
    if name == "authorization" and sep and rest:
        return f"{scheme} {mask(rest)}"
    return mask(value)


def mask_request(request: http.Request) -> None:
    """Replace every credential the client sent with its masked form, in place."""
    for name in SECRET_HEADERS:
        values = request.headers.get_all(name)
        if values:
            request.headers.set_all(name, [mask_header_value(name, v) for v in values])
    if "?" in request.path:
        path, _, query = request.path.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k in SECRET_QUERY for k, _ in pairs):
            request.path = path + "?" + urlencode([(k, mask(v) if k in SECRET_QUERY else v) for k, v in pairs])


def keep_client_view(flow: http.HTTPFlow) -> None:
    """Remember the (masked) client request before the flow is re-pointed at the bridge."""
    flow.metadata[_CLIENT_VIEW] = flow.request.get_state()


def restore_client_view(flow: http.HTTPFlow) -> None:
    """Once the bridge request is on the wire, show the client's own request again."""
    state = flow.metadata.pop(_CLIENT_VIEW, None)
    if state is not None:
        flow.request.set_state(state)


def describe_attempts(url: str | None, attempts: list[AttemptRecord]) -> str:
    statuses = ",".join(str(a.status) if a.status is not None else "transport" for a in attempts)
    lines = [f"upstream {url or '(none)'} attempts={statuses or 'none'}"]
    lines += [f"  #{i} {a.describe()}" for i, a in enumerate(attempts, 1)]
    return "\n".join(lines)


def comment(flow: http.HTTPFlow, text: str) -> None:
    flow.comment = f"{flow.comment}\n{text}" if flow.comment else text
