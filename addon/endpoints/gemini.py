"""Gemini-native endpoints: `models/{m}:generateContent|streamGenerateContent|countTokens`.

The upstream is always asked to stream; `generateContent` collects that stream into one body,
`streamGenerateContent` is relayed through the bridge as it arrives.
"""

from __future__ import annotations

from addon.errors import ClientError
from addon.exchange import Answer, ClientRequest, Services
from addon.pool.sessions import session_key
from addon.protocols import gemini
from addon.endpoints.upstream_answer import answer_headers, collect, streamed, whole
from addon.routes import GEMINI_METHODS, Route
from addon.upstream.provider import UpstreamCall


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


async def call(svc: Services, req: ClientRequest, route: Route) -> Answer:
    method = _method(req, route)
    doc = gemini.load_json_object(req.body)
    mapped = svc.models.resolve(route.params["model"])
    if method == "countTokens":
        body = gemini.count_tokens_body(doc, mapped)
        result, account, attempts = await svc.dispatcher.unary(UpstreamCall(mapped, "countTokens", body),
                                                               gone=req.gone)
        answer = Answer.json(result, headers=answer_headers(mapped, account.label))
        answer.attempts = attempts
        return answer

    hub = gemini.sign_function_calls(gemini.clean(gemini.check_generate(doc)), mapped)
    call = UpstreamCall(mapped, "stream", hub, session=session_key(req.headers, doc))
    upstream = await svc.dispatcher.open_stream(call, gone=req.gone)
    if method == "generateContent":
        return whole(gemini.collect(await collect(upstream, mapped)), upstream, mapped)
    sse = req.query.get("alt") == "sse"
    return streamed(svc, upstream, gemini.GeminiStreamWriter(sse), mapped,
                    "text/event-stream" if sse else "application/json; charset=UTF-8")
