"""openai SDK image generation, image edits and audio transcription through the gateway."""

from __future__ import annotations

import base64
import io
import struct

import httpx
import openai
import pytest
from openai.types import ImagesResponse
from openai.types.audio import Transcription


def sdk(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-anything", max_retries=0)


def last_request(gw) -> dict:
    return [r for r in gw.sim.log if r.request is not None][-1].request


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")


def wav(seconds: float = 0.1) -> bytes:
    frames = b"\x00\x00" * int(8000 * seconds)
    return (b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000,
            16000, 2, 16) + b"data" + struct.pack("<I", len(frames)) + frames)


def test_image_generation_b64_and_url(gateway):
    resp = sdk(gateway).images.with_raw_response.generate(model="dall-e-3", prompt="an otter", n=2,
                                                          size="1792x1024", quality="hd")
    assert resp.headers["x-mapped-model"] == "gemini-2.5-flash-image"
    done = ImagesResponse.model_validate(resp.parse().model_dump(exclude_unset=True))
    assert len(done.data) == 2 and all(is_png(base64.b64decode(d.b64_json)) for d in done.data)
    config = last_request(gateway)["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "4K"}
    assert gateway.sim.log[-1].model == "gemini-2.5-flash-image"
    url = sdk(gateway).images.generate(model="gemini-2.5-flash-image", prompt="an otter", response_format="url")
    assert url.data[0].url.startswith("data:image/png;base64,")
    assert url.data[0].url.split(",", 1)[1] == done.data[0].b64_json  # same prompt, same picture


def test_image_edit_multipart(gateway):
    picture = base64.b64decode(sdk(gateway).images.generate(prompt="a cat").data[0].b64_json)
    done = sdk(gateway).images.edit(image=("cat.png", io.BytesIO(picture), "image/png"), prompt="add a hat",
                                    mask=("mask.png", io.BytesIO(picture), "image/png"), size="1024x1024")
    assert is_png(base64.b64decode(done.data[0].b64_json))
    parts = last_request(gateway)["contents"][0]["parts"]
    assert parts[0] == {"text": "add a hat"}
    assert [p["inlineData"]["mimeType"] for p in parts[1:]] == ["image/png", "image/png"]
    assert base64.b64decode(parts[1]["inlineData"]["data"]) == picture


def test_audio_transcription(gateway):
    clip = wav()
    done = sdk(gateway).audio.transcriptions.create(model="whisper-1", file=("hello.wav", clip, "audio/wav"))
    Transcription.model_validate(done.model_dump())
    assert done.text == (f"This is a simulated transcript of {len(clip)} bytes of audio/wav; "
                         "no speech recognition was run.")
    parts = last_request(gateway)["contents"][0]["parts"]
    assert parts[0]["text"].startswith("Generate a transcript") and parts[1]["inlineData"]["mimeType"] == "audio/wav"
    text = sdk(gateway).audio.transcriptions.create(model="whisper-1", file=("a.mp3", clip), response_format="text")
    assert "simulated transcript" in str(text)


def test_audio_over_15_mb_is_413(gateway):
    big = b"\x00" * (15 * 1024 * 1024 + 1)
    with pytest.raises(openai.APIStatusError) as e:
        sdk(gateway).audio.transcriptions.create(model="whisper-1", file=("big.wav", big, "audio/wav"))
    assert e.value.status_code == 413 and "15 MB" in e.value.message


@pytest.mark.parametrize("path,kwargs,param", [
    ("/v1/images/generations", {"json": {"model": "dall-e-3"}}, "prompt"),
    ("/v1/images/generations", {"json": {"prompt": "x", "n": 0}}, "n"),
    ("/v1/images/generations", {"json": {"prompt": "x", "size": "huge"}}, "size"),
    ("/v1/images/generations", {"json": {"prompt": "x", "response_format": "png"}}, "response_format"),
    ("/v1/images/edits", {"files": {"prompt": (None, "x")}}, "image"),
    ("/v1/audio/transcriptions", {"files": {"model": (None, "whisper-1")}}, "file"),
    ("/v1/audio/transcriptions", {"files": {"file": ("notes.txt", b"hello", "text/plain")}}, "file"),
])
def test_bad_media_input(gateway, path, kwargs, param):
    r = httpx.post(gateway.url + path, **kwargs)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_non_multipart_upload_is_400(gateway):
    r = httpx.post(gateway.url + "/v1/audio/transcriptions", json={"file": "x"})
    assert r.status_code == 400 and "multipart" in r.json()["error"]["message"]
