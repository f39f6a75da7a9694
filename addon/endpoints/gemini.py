"""Gemini-native endpoints: `models/{m}:generateContent|streamGenerateContent|countTokens`.

The upstream is always asked to stream; `generateContent` collects that stream into one body,
`streamGenerateContent` is relayed through the bridge as it arrives.
"""

from __future__ import annotations

from addon.errors import ClientError, UpstreamError
from addon.exchange import Answer, ClientRequest, Services
from addon.pool.sessions import session_key
from addon.protocols import gemini
from addon.routes import GEMINI_METHODS, Route
from addon.upstream.provider import UpstreamCall
from addon.upstream.relay import relay


def _method(req: ClientRequest, route: Route) -> str:
    method = route.params.get("method")
    if method is None and req.path.rstrip("/").endswith("/countTokens"):
        method = "countTokens"
    if not method:
        raise ClientError(f"no method in '{req.path}': append ':generateContent', ':streamGenerateContent' "
                          "or ':countTokens' to the model")
    if method not in GEMINI_METHODS:
        raise ClientError(f"unsupported method '{method}': use one of {', '.join(GEMINI_METHODS)}")
    return method


def _answer_headers(mapped: str, account: str, content_type: str) -> dict[str, str]:
    return {"content-type": content_type, "x-mapped-model": mapped, "x-account-email": account}


async def call(svc: Services, req: ClientRequest, route: Route) -> Answer:
    method = _method(req, route)
    doc = gemini.load_json_object(req.body)
    mapped = svc.models.resolve(route.params["model"])
    if method == "countTokens":
        body = gemini.count_tokens_body(doc, mapped)
        result, account, attempts = await svc.dispatcher.unary(UpstreamCall(mapped, "countTokens", body),
                                                               gone=req.gone)
        answer = Answer.json(result, headers=_answer_headers(mapped, account.label, "application/json"))
        answer.attempts = attempts
        return answer

    hub = gemini.sign_function_calls(gemini.clean(gemini.check_generate(doc)), mapped)
    call = UpstreamCall(mapped, "stream", hub, session=session_key(req.headers, doc))
    upstream = await svc.dispatcher.open_stream(call, gone=req.gone)
    if method == "generateContent":
        try:
            events = [event async for event in upstream.events()]
        except UpstreamError as e:
            e.headers.update(_answer_headers(mapped, upstream.account.label, "application/json"))
            raise
        if not any(c.get("finishReason") for e in events for c in e.get("candidates") or ()) and not any(
                e.get("promptFeedback") for e in events):
            raise UpstreamError("upstream stream ended without a finishReason (interrupted)", status=502)
        answer = Answer.json(gemini.collect(events),
                             headers=_answer_headers(mapped, upstream.account.label, "application/json"))
    else:
        sse = req.query.get("alt") == "sse"
        writer = gemini.GeminiStreamWriter(sse)
        answer = Answer(200, _answer_headers(mapped, upstream.account.label,
                                             "text/event-stream" if sse else "application/json; charset=UTF-8"),
                        stream=relay(upstream.events(), writer, svc.settings.keepalive_interval_s))
        answer.headers["cache-control"] = "no-cache"
        answer.headers["x-accel-buffering"] = "no"
    answer.upstream_url = upstream.url
    answer.attempts = upstream.attempts
    return answer
