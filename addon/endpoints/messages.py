"""Anthropic Messages: `POST /v1/messages` (stream and not) and `POST /v1/messages/count_tokens`.

parse → warmup? → map the model → translate (anthropic_request) → upstream stream → relay
(anthropic_stream) or collect. Signatures the upstream issues are remembered as they pass, so
the next turn's echoed thinking can be trusted. count_tokens asks the upstream to count exactly
what generation would send, and falls back to a local estimate only when no account can count,
saying so in `x-interlock-token-count`.
"""

from __future__ import annotations

import json
import secrets
import time

from addon.errors import ClientError, PayloadTooLarge, PoolExhausted, UpstreamError
from addon.exchange import Answer, ClientRequest, Services
from addon.pool.sessions import session_key
from addon.protocols import anthropic_request, anthropic_stream, gemini
from addon.protocols.signatures import CACHE, SignatureCache
from addon.endpoints import anthropic_passthrough as passthrough
from addon.endpoints.upstream_answer import collect, streamed, whole
from addon.routes import Route
from addon.upstream.provider import UpstreamCall

CAPACITY_STATUS = frozenset({503, 529})
WARMUP = "Warmup"
TOKEN_COUNT_HEADER = "x-interlock-token-count"
INLINE_LIMIT = 20 * 1024 * 1024
"""Google's limit for a request's inline media; larger uploads need the Files API we do not offer."""


def _remember(cache: SignatureCache, mapped: str) -> anthropic_stream.SignatureSink:
    def sink(kind: str, key: str, signature: str) -> None:
        if kind == "thinking":
            cache.remember_thinking(mapped, key, signature)
        else:
            cache.remember_call(mapped, key, signature)
    return sink


def _capacity(err: PoolExhausted, svc: Services) -> PoolExhausted:
    """Every account failed with "overloaded", or is still cooling down from it without a rate limit:
    that is Anthropic's 529 `overloaded_error`, which Claude Code retries only briefly."""
    if err.status == 429 or err.rate_limited and err.retry_after_s is not None:
        return err
    overloaded = all(a.status in CAPACITY_STATUS for a in err.attempts)
    if (err.attempts and overloaded) or (not err.attempts and svc.pool.usable()):
        err.status, err.kind = 529, "overloaded_error"
    return err


def is_warmup(doc: dict) -> bool:
    """Claude Code's warmup probe (antigravity-spec §9.6): only the last message counts."""
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return False
    content = messages[-1].get("content")
    if isinstance(content, str):
        return content.strip().startswith(WARMUP) and len(content.encode()) < 100
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            text = block["text"].strip()
            if text == WARMUP or text.startswith(WARMUP + "\n"):
                return True
        if block.get("type") == "tool_result" and block.get("is_error") is True:
            inner = block.get("content")
            text = inner if isinstance(inner, str) else json.dumps(inner)
            if text.strip().startswith(WARMUP):
                return True
    return False


def _warmup_answer(doc: dict) -> Answer:
    model = doc.get("model") if isinstance(doc.get("model"), str) else "unknown"
    message_id = f"msg_warmup_{int(time.time() * 1000)}"
    event = {"candidates": [{"content": {"parts": [{"text": "OK"}]}, "finishReason": "STOP"}],
             "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}
    headers = {"x-warmup-intercepted": "true"}
    if doc.get("stream") is True:
        writer = anthropic_stream.AnthropicStreamWriter(model, message_id)
        return Answer(200, {"content-type": "text/event-stream", "cache-control": "no-cache", **headers},
                      writer.feed(event) + writer.close())
    return Answer.json(anthropic_stream.collect([event], model, message_id), headers=headers)


def _translate(svc: Services, doc: dict, counting: bool) -> tuple[str, anthropic_request.HubRequest]:
    anthropic_request.check(doc, counting=counting)
    mapped = svc.models.resolve(doc["model"])
    info = svc.models.describe(doc["model"])
    hub = anthropic_request.to_hub(doc, mapped, CACHE, thinks=info.thinking,
                                   output_limit=info.output_token_limit, counting=counting)
    if not counting:
        _check_size(hub.body, mapped, info.input_token_limit)
    return mapped, hub


def _check_size(body: dict, mapped: str, input_limit: int) -> None:
    """Refuse here what the upstream would refuse after a long upload, and say why."""
    inline = sum(len(p["inlineData"]["data"]) for c in body["contents"] for p in c["parts"] if "inlineData" in p)
    if inline > INLINE_LIMIT:
        raise PayloadTooLarge(f"images and documents total {inline / 2**20:.1f} MB of base64; the upstream accepts "
                              f"at most {INLINE_LIMIT // 2**20} MB inline per request")
    estimate = anthropic_request.estimate_tokens(body)
    if estimate > input_limit:
        raise ClientError(f"prompt is too long: about {estimate} tokens (estimated at 4 characters per token) > "
                          f"{input_limit} maximum for {mapped}", param="messages")


async def messages(svc: Services, req: ClientRequest, route: Route) -> Answer:
    doc = gemini.load_json_object(req.body)
    if is_warmup(doc):
        return _warmup_answer(doc)
    mode = svc.settings.anthropic.dispatch
    if mode == "exclusive":
        try:
            return await passthrough.messages(svc, req, doc)
        except PoolExhausted as e:
            raise _capacity(e, svc) from None
    mapped, hub = _translate(svc, doc, counting=False)
    body = gemini.sign_function_calls(hub.body, mapped)
    relay = passthrough.attach(req, doc) if mode != "off" else None  # an Anthropic account may answer
    try:
        upstream = await svc.dispatcher.open_stream(UpstreamCall(mapped, "stream", body,
                                                                 session=session_key(req.headers, doc),
                                                                 passthrough=relay),
                                                    gone=req.gone)
    except PoolExhausted as e:
        raise _capacity(e, svc) from None
    if passthrough.served_here(upstream):
        return await passthrough.answer(svc, upstream, doc)
    message_id = "msg_" + secrets.token_hex(12)
    sink = _remember(CACHE, mapped)
    if hub.stream:
        writer = anthropic_stream.AnthropicStreamWriter(hub.model, message_id, sink)
        answer = streamed(svc, upstream, writer, mapped, "text/event-stream")
    else:
        events = await collect(upstream, mapped, require_finish=False)  # an unfinished answer ends its turn
        answer = whole(anthropic_stream.collect(events, hub.model, message_id, sink), upstream, mapped)
    answer.headers["request-id"] = "req_" + secrets.token_hex(12)
    return answer


async def count_tokens(svc: Services, req: ClientRequest, route: Route) -> Answer:
    doc = gemini.load_json_object(req.body)
    mode = svc.settings.anthropic.dispatch
    if mode == "exclusive":
        return await passthrough.count_tokens(svc, req, doc)
    mapped, hub = _translate(svc, doc, counting=True)
    body = anthropic_request.count_tokens_body(hub.body, mapped)
    relay = passthrough.attach(req, doc) if mode != "off" else None
    try:
        result, account, attempts = await svc.dispatcher.unary(UpstreamCall(mapped, "countTokens", body,
                                                                            passthrough=relay),
                                                               gone=req.gone)
    except (PoolExhausted, UpstreamError) as e:
        if isinstance(e, UpstreamError) and e.status < 500 and e.status not in (401, 403, 404, 429):
            raise  # the upstream could count and says the request is wrong
        reason = e.message.splitlines()[0][:120] if e.message else type(e).__name__
        return Answer.json({"input_tokens": anthropic_request.estimate_tokens(hub.body)},
                           headers={TOKEN_COUNT_HEADER: f"estimate; no account could count: {reason}",
                                    "x-mapped-model": mapped})
    total = result.get("totalTokens") if isinstance(result, dict) else None
    headers = {"x-mapped-model": mapped, "x-account-email": account.label}
    if not isinstance(total, int):
        headers[TOKEN_COUNT_HEADER] = "estimate; the upstream answered without totalTokens"
        total = anthropic_request.estimate_tokens(hub.body)
    answer = Answer.json({"input_tokens": total}, headers=headers)
    answer.attempts = attempts
    return answer
