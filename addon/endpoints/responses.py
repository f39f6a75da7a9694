"""OpenAI Responses: `POST /v1/responses` (stream and not), `GET`/`DELETE /v1/responses/{id}`.

parse → map the model → continue a stored conversation (`previous_response_id`) → translate
(openai_responses) → fetch remote images → upstream stream → relay (responses_stream) or collect.
A response is stored unless the client says `store: false` (Codex does: it resends the whole
history every turn), and only once it completed or stopped short, never when it failed.
`prompt_cache_key` (else the first user turn) keeps a conversation on one account.
WebSocket upgrades on `GET /v1/responses` are refused at once: Codex then falls back to HTTP.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable

from addon.config import home_dir
from addon.conversations import FILE, ResponseStore
from addon.endpoints.chat import _fetch_images
from addon.errors import ClientError, NotFound, UpstreamError
from addon.exchange import Answer, ClientRequest, Services
from addon.pool.sessions import session_key
from addon.protocols import gemini, openai_responses, responses_stream
from addon.protocols.openai_responses import Prior
from addon.protocols.signatures import CACHE
from addon.endpoints.upstream_answer import answer_headers, collect, streamed, whole
from addon.routes import Route
from addon.upstream.provider import UpstreamCall

_STORES: dict[str, ResponseStore] = {}
log = logging.getLogger("interlock")


class UpgradeRequired(ClientError):
    status = 426


def store_for(svc: Services) -> ResponseStore:
    path = (svc.home or home_dir()) / FILE
    if str(path) not in _STORES:
        _STORES[str(path)] = ResponseStore(path)
    return _STORES[str(path)]


def _prior(svc: Services, doc: dict) -> Prior | None:
    previous = doc.get("previous_response_id")
    if previous is None:
        return None
    if not isinstance(previous, str) or not previous:
        raise ClientError("Invalid 'previous_response_id': expected a response id string.",
                          param="previous_response_id")
    found = store_for(svc).get(previous)
    if found is None:
        raise NotFound(f"Previous response with id '{previous}' not found.", param="previous_response_id",
                       code="previous_response_not_found")
    return found[1]


class _StoringWriter:
    """The stream writer, plus: when the stream ends well, keep the response for later requests."""

    def __init__(self, writer: responses_stream.ResponsesStreamWriter, on_end: Callable[[], None]) -> None:
        self.writer = writer
        self.on_end = on_end

    def feed(self, event: dict) -> bytes:
        return self.writer.feed(event)

    def ping(self) -> bytes:
        return self.writer.ping()

    def fail(self, status: int, message: str) -> bytes:
        return self.writer.fail(status, message)

    def close(self) -> bytes:
        tail = self.writer.close()
        self.on_end()
        return tail


async def responses(svc: Services, req: ClientRequest, route: Route) -> Answer:
    doc = gemini.load_json_object(req.body)
    model = doc.get("model")
    mapped = svc.models.resolve(model) if isinstance(model, str) and model.strip() else ""
    prior = _prior(svc, doc) if isinstance(model, str) and model.strip() else None

    def translate(fetched: dict | None = None) -> openai_responses.ResponsesRequest:
        return openai_responses.to_hub(doc, mapped, prior, fetched,
                                       call_signature=lambda call_id: CACHE.for_call(mapped, call_id))

    asked = translate()  # every 400 before any image is fetched
    urls = openai_responses.remote_image_urls(doc)
    if urls:
        asked = translate(await _fetch_images(urls))
    hub = gemini.sign_function_calls(asked.body, mapped)
    call = UpstreamCall(mapped, "stream", hub, session=session_key(req.headers, doc))
    upstream = await svc.dispatcher.open_stream(call, gone=req.gone)
    machine = responses_stream.ResponsesEvents(
        "resp_" + uuid.uuid4().hex, int(time.time()), asked.model, mapped, echo=asked.echo, tools=asked.tools,
        single_call=asked.single_call, encrypted=asked.encrypted,
        on_call_signature=lambda call_id, sig: CACHE.remember_call(mapped, call_id, sig))

    def keep(response: dict) -> None:
        if doc.get("store") is False or response.get("status") == "failed":
            return
        turn = [{"role": "model", "parts": machine.model_parts}] if machine.model_parts else []
        try:
            store_for(svc).put(response, Prior(asked.conversation.system, asked.conversation.contents + turn))
        except sqlite3.Error as e:  # the answer still reaches the client; only chaining to it will not work
            log.warning(f"interlock: could not store response {response['id']}: {e}")

    if asked.stream:
        def stored() -> None:
            if machine.closed:
                keep({**machine.response, "output_text": responses_stream.output_text(machine.response)})

        writer = _StoringWriter(responses_stream.ResponsesStreamWriter(machine), stored)
        return streamed(svc, upstream, writer, mapped)
    events = await collect(upstream, mapped, require_finish=False)  # the machine turns a cut into "failed"
    body = responses_stream.collect(events, machine)
    if body["status"] == "failed":
        raise UpstreamError(body["error"]["message"], status=502,
                            headers=answer_headers(mapped, upstream.account.label))
    keep(body)
    return whole(body, upstream, mapped)


async def response_by_id(svc: Services, req: ClientRequest, route: Route) -> Answer:
    response_id = route.params["id"]
    if req.method == "DELETE":
        if not store_for(svc).delete(response_id):
            raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
        return Answer.json({"id": response_id, "object": "response", "deleted": True})
    found = store_for(svc).get(response_id)
    if found is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
    return Answer.json(found[0])


async def websocket(svc: Services, req: ClientRequest, route: Route) -> Answer:
    """Refused at once, so Codex's built-in provider falls back to HTTP instead of retrying."""
    if req.headers.get("upgrade", "").lower() == "websocket":
        raise UpgradeRequired("WebSocket transport for the Responses API is not supported by interlock; use "
                              "POST /v1/responses (HTTP with SSE). Codex: configure a custom model provider "
                              "with wire_api = \"responses\", which never tries WebSockets.",
                              headers={"connection": "close"})
    raise ClientError("GET /v1/responses lists nothing: create a response with POST /v1/responses, or fetch a "
                      "stored one with GET /v1/responses/{id}.", status=405, headers={"allow": "POST"})
