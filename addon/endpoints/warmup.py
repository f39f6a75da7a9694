"""`POST /internal/warmup`: start the quota windows of Google accounts now (see upstream/warmup.py).

Body (all optional): `{"account": "<id, label or e-mail>", "email": "…", "model": "…"}`; without
an account every enabled Google account is warmed, one request per model family. Behind the
gateway's auth like every route. Answers `{"success", "results": [{account, email, model,
status, message}]}`, 502 when any warmup failed.
"""

from __future__ import annotations

from addon.errors import ClientError
from addon.exchange import Answer, ClientRequest, Services
from addon.protocols.gemini import load_json_object
from addon.routes import Route
from addon.upstream import warmup as warming


async def warmup(svc: Services, req: ClientRequest, route: Route) -> Answer:
    doc = load_json_object(req.body) if req.body.strip() else {}
    name = doc.get("account") or doc.get("email")
    model = doc.get("model")
    if name is not None and not isinstance(name, str) or model is not None and not isinstance(model, str):
        raise ClientError("'account', 'email' and 'model' must be strings")
    if svc.google is None:
        raise ClientError("no Cloud Code upstream in this gateway (demo mode)")
    svc.pool.refresh()
    accounts = warming.pick(svc.pool.accounts, name)
    if not accounts:
        raise ClientError(f"no enabled Google account called {name!r}" if name else "no enabled Google account",
                          param="account" if name else None)
    results = await warming.warm_all(svc.google, accounts, model)
    doc = warming.summary(results)
    return Answer.json(doc, status=200 if doc["success"] else 502)
