"""Answers the gateway gives itself: health, model lists, model detection, telemetry sinks."""

from __future__ import annotations

from addon import models
from addon.errors import ClientError
from addon.exchange import Answer, ClientRequest, Services
from addon.protocols.gemini import load_json_object
from addon.routes import Route


def _served(svc: Services) -> list[models.ModelInfo]:
    """The built-in catalog plus every model an enabled account's upstream reported (Cloud Code quotas)."""
    svc.pool.refresh()
    return svc.models.catalog({q.model for a in svc.pool.usable() for q in a.quota})


def _wants_gemini(req: ClientRequest) -> bool:
    return "x-goog-api-key" in req.headers or "key" in req.query or "x-goog-api-client" in req.headers


async def health(svc: Services, req: ClientRequest, route: Route) -> Answer:
    doc = {"status": "ok", "version": svc.version, "accounts": len(svc.pool.usable())}
    if svc.demo:
        doc["mode"] = "demo"
    return Answer.json(doc)


async def head(svc: Services, req: ClientRequest, route: Route) -> Answer:
    return Answer(200, {"content-type": "application/json"})


async def telemetry(svc: Services, req: ClientRequest, route: Route) -> Answer:
    return Answer(200, {"content-type": "application/json"}, b"{}")


async def list_models(svc: Services, req: ClientRequest, route: Route) -> Answer:
    if "anthropic-version" in req.headers:
        return Answer.json(models.anthropic_list(_served(svc)))
    if _wants_gemini(req):
        return await list_models_gemini(svc, req, route)
    return Answer.json(models.openai_list(_served(svc)))


async def list_models_anthropic(svc: Services, req: ClientRequest, route: Route) -> Answer:
    return Answer.json(models.anthropic_list(_served(svc)))


async def list_models_gemini(svc: Services, req: ClientRequest, route: Route) -> Answer:
    size = req.query.get("pageSize") or req.query.get("page_size")
    if size is not None and not size.lstrip("-").isdigit():
        raise ClientError(f"Invalid value at 'pageSize': expected an integer, got {size!r}", param="pageSize")
    try:
        return Answer.json(models.gemini_list(_served(svc), int(size) if size else None,
                                              req.query.get("pageToken") or req.query.get("page_token")))
    except ValueError as e:
        raise ClientError(str(e), param="pageSize" if "pageSize" in str(e) else "pageToken") from None


async def get_model(svc: Services, req: ClientRequest, route: Route) -> Answer:
    if _wants_gemini(req):
        return await get_model_gemini(svc, req, route)
    info = svc.models.describe(route.params["model"])
    return Answer.json({"id": info.id, "object": "model", "created": models.LIST_CREATED,
                        "owned_by": models.OWNED_BY})


async def get_model_gemini(svc: Services, req: ClientRequest, route: Route) -> Answer:
    return Answer.json(models.gemini_model(svc.models.describe(route.params["model"])))


async def detect_model(svc: Services, req: ClientRequest, route: Route) -> Answer:
    doc = load_json_object(req.body)
    model = doc.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ClientError("'model' is required: a non-empty string", param="model")
    return Answer.json(svc.models.detect(model))
