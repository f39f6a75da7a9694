"""Anthropic clients answered by an Anthropic-compatible upstream: their request goes through with
only the model mapped (and `anthropic_api.clean`), the answer comes back with its own bytes, only
the model name put back to the one the client asked for.
"""

from __future__ import annotations

import json

from addon.errors import ClientError, PoolExhausted, UpstreamError
from addon.exchange import Answer, ClientRequest, Services
from addon.endpoints.upstream_answer import answer_headers, streamed, traced
from addon.pool.accounts import ANTHROPIC_KEY
from addon.pool.sessions import session_key
from addon.upstream.anthropic_api import Passthrough, PassthroughWriter, upstream_model
from addon.upstream.dispatcher import UpstreamStream
from addon.upstream.provider import UpstreamCall

TOKEN_COUNT_HEADER = "x-interlock-token-count"


def attach(req: ClientRequest, doc: dict) -> Passthrough:
    if not isinstance(doc.get("model"), str) or not doc["model"]:
        raise ClientError("model: Field required", param="model")
    return Passthrough(doc, doc["model"], {k.lower(): v for k, v in req.headers.items()})


def served_here(upstream: UpstreamStream) -> bool:
    """Whether the account that answered speaks Anthropic (pooled and fallback modes mix them)."""
    return upstream.account.kind == ANTHROPIC_KEY


async def messages(svc: Services, req: ClientRequest, doc: dict) -> Answer:
    passthrough = attach(req, doc)
    call = UpstreamCall(upstream_model(svc.settings.anthropic, passthrough.client_model), "stream", {},
                        session=session_key(req.headers, doc), passthrough=passthrough)
    return await answer(svc, await svc.dispatcher.open_stream(call, gone=req.gone), doc)


async def answer(svc: Services, upstream: UpstreamStream, doc: dict) -> Answer:
    """The upstream's stream relayed event by event, or its whole answer, with the client's model name."""
    mapped = upstream_model(svc.settings.anthropic, doc["model"])
    writer = PassthroughWriter(doc["model"], mapped)
    if doc.get("stream") is True:
        content_type = upstream.headers.get("content-type") or "text/event-stream"
        result = streamed(svc, upstream, writer, mapped, content_type)
    else:
        try:
            events = [event async for event in upstream.events()]
        except UpstreamError as e:
            e.headers.update(answer_headers(mapped, upstream.account.label))
            raise
        body = b"".join(writer.feed(event) for event in events)
        result = traced(Answer(200, answer_headers(mapped, upstream.account.label), body), upstream)
    if request_id := upstream.headers.get("request-id"):
        result.headers["request-id"] = request_id
    return result


async def count_tokens(svc: Services, req: ClientRequest, doc: dict) -> Answer:
    """Forwarded; an estimate (4 characters a token, said in `x-interlock-token-count`) only when no
    account could count, as for Google accounts: some Anthropic-compatible APIs lack the endpoint."""
    passthrough = attach(req, doc)
    mapped = upstream_model(svc.settings.anthropic, passthrough.client_model)
    try:
        result, account, attempts = await svc.dispatcher.unary(
            UpstreamCall(mapped, "countTokens", {}, passthrough=passthrough), gone=req.gone)
    except (PoolExhausted, UpstreamError) as e:
        if isinstance(e, UpstreamError) and e.status < 500 and e.status not in (401, 403, 404, 429):
            raise  # the upstream could count and says the request is wrong
        reason = e.message.splitlines()[0][:120] if e.message else type(e).__name__
        text = json.dumps([doc.get("system"), doc.get("messages"), doc.get("tools")], ensure_ascii=False)
        return Answer.json({"input_tokens": max(1, len(text) // 4)},
                           headers={TOKEN_COUNT_HEADER: f"estimate; no account could count: {reason}",
                                    "x-mapped-model": mapped})
    answer = Answer.json({k: v for k, v in result.items() if k != "totalTokens"},
                         headers={"x-mapped-model": mapped, "x-account-email": account.label})
    answer.attempts = attempts
    return answer
