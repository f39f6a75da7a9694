"""OpenAI `/v1/images/generations`, `/v1/images/edits` (multipart) and `/v1/audio/transcriptions`
(multipart): one upstream stream per image asked for, collected; the transcript as `{"text"}`.
"""

from __future__ import annotations

import asyncio
import time

from addon.errors import ClientError, PayloadTooLarge, UpstreamError
from addon.exchange import Answer, ClientRequest, Services
from addon.protocols import gemini, multipart, openai_media
from addon.endpoints.upstream_answer import collect, whole
from addon.routes import Route
from addon.upstream.dispatcher import UpstreamStream
from addon.upstream.provider import UpstreamCall


async def _run(svc: Services, req: ClientRequest, model: str, hub: dict) -> tuple[UpstreamStream, list[dict]]:
    upstream = await svc.dispatcher.open_stream(UpstreamCall(model, "stream", hub), gone=req.gone)
    return upstream, await collect(upstream, model)


def _answer(body: object, model: str, runs: list[tuple[UpstreamStream, list[dict]]]) -> Answer:
    upstreams = [upstream for upstream, _ in runs]
    return whole(body, upstreams[0], model, *upstreams[1:])


def _form(req: ClientRequest) -> multipart.Form:
    return multipart.parse(req.body, req.headers.get("content-type", ""))


async def images(svc: Services, req: ClientRequest, route: Route) -> Answer:
    if req.path.rstrip("/").endswith("/edits"):
        form = _form(req)
        fields: dict = form.fields
        uploads = form.files.get("image", []) + form.files.get("image[]", [])
        if not uploads:
            raise ClientError("'image' is required: the picture to edit, as a file", param="image")
        pictures = [(u.content_type if u.content_type.startswith("image/") else "image/png", u.data) for u in uploads]
        if (mask := form.file("mask")) is not None:
            pictures.append(("image/png", mask.data))
    else:
        fields, pictures = gemini.load_json_object(req.body), []
    model = fields.get("model")
    mapped = openai_media.image_model(model, svc.models.resolve(model) if isinstance(model, str) and model else "")
    hub, n, fmt = openai_media.image_request(fields, pictures)
    runs = await asyncio.gather(*(_run(svc, req, mapped, hub) for _ in range(n)))
    body = openai_media.images_response([events for _, events in runs], int(time.time()), fmt)
    if not body["data"]:
        said = openai_media.transcript([e for _, events in runs for e in events])
        raise UpstreamError(f"the image model returned no image{': ' + said if said else ''}", status=502)
    return _answer(body, mapped, runs)


async def audio(svc: Services, req: ClientRequest, route: Route) -> Answer:
    form = _form(req)
    upload = form.file("file")
    if upload is None:
        raise ClientError("'file' is required: the audio to transcribe", param="file")
    if len(upload.data) > openai_media.AUDIO_LIMIT:
        raise PayloadTooLarge(f"the audio file is {len(upload.data)} bytes; the limit is "
                              f"{openai_media.AUDIO_LIMIT} (15 MB)", param="file")
    mime = openai_media.audio_type(upload.filename, upload.content_type)
    model = form.fields.get("model") or ""
    mapped = svc.models.resolve(model) if model.startswith("gemini-") else openai_media.DEFAULT_AUDIO_MODEL
    hub, fmt = openai_media.transcription_request(form.fields, mime, upload.data)
    run = await _run(svc, req, mapped, hub)
    text = openai_media.transcript(run[1])
    answer = _answer({"text": text}, mapped, [run])
    if fmt == "text":
        answer.body = text.encode()
        answer.headers["content-type"] = "text/plain; charset=utf-8"
    return answer
