"""OpenAI `/v1/chat/completions` and legacy `/v1/completions`.

parse → map the model → fetch remote images (the only I/O before the upstream) → open the
upstream stream → collect it into one JSON body, or relay it as chat/completion chunks.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid

import httpx

from addon.errors import ClientError
from addon.exchange import Answer, ClientRequest, Services
from addon.pool.sessions import session_key
from addon.protocols import gemini, openai_chat, openai_stream
from addon.endpoints.upstream_answer import collect, streamed, whole
from addon.routes import Route
from addon.upstream.dispatcher import UpstreamStream
from addon.upstream.provider import UpstreamCall

IMAGE_FETCH_LIMIT = 20 * 1024 * 1024
IMAGE_FETCH_TIMEOUT_S = 15.0
SUFFIX_NOTE = "suffix is not supported by the upstream and was ignored"


async def _fetch_image(client: httpx.AsyncClient, url: str, param: str) -> tuple[str, str]:
    """One remote image, bounded in size and time; a failure is the client's 400."""
    try:
        async with client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise ClientError(f"could not fetch image {url}: HTTP {resp.status_code}", param=param)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > IMAGE_FETCH_LIMIT:
                    raise ClientError(f"image {url} is larger than {IMAGE_FETCH_LIMIT // (1024 * 1024)} MB",
                                      param=param)
            mime = resp.headers.get("content-type", "image/jpeg").split(";")[0].strip() or "image/jpeg"
    except httpx.HTTPError as e:
        raise ClientError(f"could not fetch image {url}: {type(e).__name__}", param=param) from None
    return mime, base64.b64encode(bytes(body)).decode()


async def _fetch_images(urls: dict[str, str]) -> dict[str, tuple[str, str]]:
    if not urls:
        return {}
    async with httpx.AsyncClient(timeout=IMAGE_FETCH_TIMEOUT_S, follow_redirects=True, trust_env=False,
                                 limits=httpx.Limits(max_connections=8)) as client:
        try:
            async with asyncio.timeout(IMAGE_FETCH_TIMEOUT_S * 2):
                found = await asyncio.gather(*(_fetch_image(client, u, p) for u, p in urls.items()))
        except TimeoutError:
            raise ClientError("fetching the request's image URLs took too long", param="messages") from None
    return dict(zip(urls, found, strict=True))


async def chat(svc: Services, req: ClientRequest, route: Route) -> Answer:
    doc = gemini.load_json_object(req.body)
    stream, include_usage = openai_chat.stream_options(doc)
    single_call = not openai_chat.parallel_tool_calls(doc)
    model = doc.get("model")
    mapped = svc.models.resolve(model) if isinstance(model, str) and model.strip() else ""
    openai_chat.to_hub(doc, mapped)  # every 400 before any image is fetched
    hub = openai_chat.to_hub(doc, mapped, await _fetch_images(openai_chat.remote_image_urls(doc)))
    hub = gemini.sign_function_calls(hub, mapped)
    call = UpstreamCall(mapped, "stream", hub, session=session_key(req.headers, doc))
    upstream = await svc.dispatcher.open_stream(call, gone=req.gone)
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if stream:
        writer = openai_stream.ChatStreamWriter(completion_id, created, model, include_usage=include_usage,
                                                single_call=single_call)
        return streamed(svc, upstream, writer, mapped)
    events = await collect(upstream, mapped)
    return whole(openai_stream.chat_completion(events, completion_id, created, model, single_call=single_call),
                 upstream, mapped)


def _prompts(doc: dict) -> list[str]:
    prompt = doc.get("prompt")
    if prompt is None:
        raise ClientError("'prompt' is required: a string or an array of strings", param="prompt")
    if isinstance(prompt, str):
        return [prompt]
    if not isinstance(prompt, list) or not prompt or not all(isinstance(p, str) for p in prompt):
        raise ClientError("Invalid 'prompt': expected a string or a non-empty array of strings (token arrays "
                          "are not supported)", param="prompt")
    return prompt


async def completions(svc: Services, req: ClientRequest, route: Route) -> Answer:
    """Legacy completions: each prompt is one user turn; a list of prompts gives one choice each."""
    doc = gemini.load_json_object(req.body)
    stream, _ = openai_chat.stream_options(doc)
    prompts = _prompts(doc)
    if stream and len(prompts) > 1:
        raise ClientError("streaming several prompts at once is not supported; send one prompt per request",
                          param="prompt")
    model = doc.get("model")
    mapped = svc.models.resolve(model) if isinstance(model, str) and model.strip() else ""
    base = {k: v for k, v in doc.items() if k not in ("prompt", "messages", "tools", "tool_choice", "response_format")}
    hubs = [openai_chat.to_hub({**base, "messages": [{"role": "user", "content": p}]}, mapped) for p in prompts]
    completion_id, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
    note = {"x-interlock-note": SUFFIX_NOTE} if doc.get("suffix") else {}
    if stream:
        call = UpstreamCall(mapped, "stream", hubs[0], session=session_key(req.headers, doc))
        upstream = await svc.dispatcher.open_stream(call, gone=req.gone)
        writer = openai_stream.CompletionStreamWriter(completion_id, created, model)
        answer = streamed(svc, upstream, writer, mapped)
        answer.headers.update(note)
        return answer

    async def one(hub: dict) -> tuple[UpstreamStream, list[dict]]:
        call = UpstreamCall(mapped, "stream", hub, session=session_key(req.headers, doc))
        upstream = await svc.dispatcher.open_stream(call, gone=req.gone)
        return upstream, await collect(upstream, mapped)

    results = await asyncio.gather(*(one(h) for h in hubs))
    bodies = [openai_stream.text_completion(events, completion_id, created, model) for _, events in results]
    choices = [c for b in bodies for c in b["choices"]]
    for k, choice in enumerate(choices):
        choice["index"] = k
    body = {**bodies[0], "choices": choices,
            "usage": {k: sum(b["usage"][k] for b in bodies) for k in bodies[0]["usage"]}}
    upstreams = [upstream for upstream, _ in results]
    answer = whole(body, upstreams[0], mapped, *upstreams[1:])
    answer.headers.update(note)
    return answer
