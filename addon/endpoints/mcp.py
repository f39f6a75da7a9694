"""`/mcp/{server}/mcp`: a reverse proxy for MCP streamable HTTP (reference §12).

Any method goes to the URL configured for the server (`[mcp]` in config.toml) with the key of an
`anthropic_key` account as `Authorization: Bearer`, never the client's own credentials. The MCP
headers (`Mcp-Session-Id`, `Mcp-Protocol-Version`, `Last-Event-ID`) pass both ways, and an
event-stream answer (a POST's or a GET's) is relayed as it arrives, so a session works end to end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx

from addon.config import MCP_SERVERS
from addon.errors import ClientError, NotFound, UpstreamError
from addon.exchange import Answer, ClientRequest, Services
from addon.pool.accounts import ANTHROPIC_KEY, Account
from addon.routes import Route

REQUEST_HEADERS = ("content-type", "accept", "user-agent", "mcp-session-id", "mcp-protocol-version", "last-event-id")
ANSWER_HEADERS = ("content-type", "mcp-session-id", "mcp-protocol-version", "cache-control", "www-authenticate")


def key_account(svc: Services) -> Account:
    """The account whose key the MCP servers get: `mcp.account`, else the first enabled `anthropic_key`."""
    wanted = svc.settings.mcp.account
    for account in svc.pool.accounts:
        if account.kind == ANTHROPIC_KEY and account.enabled and (not wanted or account.id == wanted):
            return account
    which = f"account {wanted!r} (setting mcp.account)" if wanted else "an enabled anthropic_key account"
    raise ClientError(f"MCP needs the key of {which}: add one with `interlock accounts add` (kind anthropic_key)")


async def _relay(resp: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    except httpx.HTTPError:
        return  # the server ended the event stream; the client sees it end too
    finally:
        await resp.aclose()


async def mcp(svc: Services, req: ClientRequest, route: Route) -> Answer:
    server = route.params["server"]
    url = svc.settings.mcp.url(server)
    if not url:
        key = server.replace("-", "_")
        hint = (f"set `{key} = \"https://…/mcp\"` under [mcp] in config.toml" if server in MCP_SERVERS
                else f"the servers are {', '.join(MCP_SERVERS)}")
        raise NotFound(f"MCP server {server!r} is not configured: {hint}")
    account = key_account(svc)
    headers = {k: v for k, v in req.headers.items() if k.lower() in REQUEST_HEADERS}
    headers["authorization"] = f"Bearer {account.secret}"
    headers["accept-encoding"] = "identity"
    query = urlencode(dict(req.query))
    client = svc.dispatcher.client
    request = client.build_request(req.method, url + (f"?{query}" if query else ""), headers=headers,
                                   content=req.body or None,
                                   timeout=httpx.Timeout(svc.settings.first_byte_timeout_s, read=None))
    try:
        resp = await client.send(request, stream=True)
    except httpx.HTTPError as e:
        raise UpstreamError(f"MCP server {server} is unreachable: {type(e).__name__}", status=502) from None
    answer_headers = {k: v for k, v in resp.headers.items() if k.lower() in ANSWER_HEADERS}
    answer_headers["x-account-email"] = account.label
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        answer = Answer(resp.status_code, answer_headers, stream=_relay(resp))
    else:
        try:
            body = await resp.aread()
        finally:
            await resp.aclose()
        answer = Answer(resp.status_code, answer_headers, body)
    answer.upstream_url = url
    return answer
