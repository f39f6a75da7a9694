"""One client exchange, free of mitmproxy: CORS, routing, auth, limits, the endpoint, and the
error envelope when anything refuses. `gateway.py` converts the `Answer` into a flow response.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addon import record, routes, security
from addon.config import Settings
from addon.errors import AttemptRecord, GatewayError, NotImplementedYet, PayloadTooLarge, Protocol, render
from addon.models import ModelMap
from addon.pool import why
from addon.pool.scheduler import Pool
from addon.upstream.dispatcher import Dispatcher

VERSION = "0.1.0"
CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, DELETE, HEAD, OPTIONS",
    "access-control-allow-headers": "*",
    "access-control-max-age": "600",
}


@dataclass
class ClientRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    gone: Callable[[], bool] = lambda: False


@dataclass
class Answer:
    """What the client gets: a whole body, or a `stream` the bridge serves."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    upstream_url: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)

    @classmethod
    def json(cls, doc: object, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
        return cls(status, {"content-type": "application/json", **(headers or {})},
                   json.dumps(doc, ensure_ascii=False).encode())


@dataclass
class Services:
    """Everything an endpoint may use; built once by the gateway."""

    settings: Settings
    models: ModelMap
    pool: Pool
    dispatcher: Dispatcher
    demo: bool = False
    version: str = VERSION
    home: Path | None = None
    """The data directory, for endpoints that keep state on disk (stored Responses)."""
    google: Any = None  # addon.upstream.google.GoogleServices: Cloud Code setup calls (warmup)


Endpoint = Callable[[Services, ClientRequest, routes.Route], "Answer | object"]


def error_answer(protocol: Protocol, err: GatewayError) -> Answer:
    record.note_error(err)
    status, headers, body = render(protocol, err)
    return Answer(status, headers, body, attempts=list(getattr(err, "attempts", []) or []))


async def handle(svc: Services, req: ClientRequest, endpoints: Mapping[str, Endpoint]) -> Answer:
    if req.method == "OPTIONS":
        return Answer(204, dict(CORS_HEADERS))
    protocol = routes.guess_protocol(req.path, req.headers)
    try:
        route: routes.Route | GatewayError
        try:
            route = routes.match(req.method, req.path, req.headers)
            protocol = route.protocol
        except GatewayError as e:
            route = e
        security.authorize(svc.settings.effective_auth_mode, svc.settings.api_key, req.method, req.path,
                           req.headers, req.query)
        if isinstance(route, GatewayError):
            raise route
        limit = int(svc.settings.max_body_mb * 1024 * 1024)
        if len(req.body) > limit:
            raise PayloadTooLarge(f"request body is {len(req.body)} bytes; the limit is {limit} "
                                  "(setting max_body_mb)")
        if route.capability:
            raise NotImplementedYet(f"{route.capability} ({req.method} {req.path}) is not available in "
                                    f"interlock {svc.version} yet")
        token = why.start(req.headers.get("x-interlock-debug") == "1")
        try:
            answer = await endpoints[route.handler](svc, req, route)
        except GatewayError as e:
            answer = error_answer(protocol, e)
        if reasons := why.stop(token):
            answer.headers["x-interlock-why"] = reasons
    except GatewayError as e:
        answer = error_answer(protocol, e)
    answer.headers.setdefault("access-control-allow-origin", "*")
    if svc.demo:
        answer.headers["x-interlock-mode"] = "demo"
    return answer
