"""Images / audio translators and the multipart reader, without sockets."""

import httpx
import pytest

from addon.errors import ClientError
from addon.protocols import multipart, openai_media


def encoded(files: dict, data: dict | None = None) -> tuple[bytes, str]:
    req = httpx.Request("POST", "http://x/", files=files, data=data)
    return req.read(), req.headers["content-type"]


def test_multipart_reads_what_httpx_writes():
    files = {"file": ("a b.wav", b"\x00\r\n--x\x01", "audio/wav"), "image[]": ("i.png", b"P", "image/png")}
    body, ctype = encoded(files, {"model": "whisper-1", "prompt": "héllo"})
    form = multipart.parse(body, ctype)
    assert form.fields == {"model": "whisper-1", "prompt": "héllo"}
    upload = form.file("file")
    assert (upload.filename, upload.content_type, upload.data) == ("a b.wav", "audio/wav", b"\x00\r\n--x\x01")
    assert form.files["image[]"][0].data == b"P"


@pytest.mark.parametrize("body,ctype", [(b"{}", "application/json"), (b"--b\r\n", "multipart/form-data; boundary=b"),
                                        (b"--b\r\nno headers--b--", "multipart/form-data; boundary=b")])
def test_malformed_multipart_is_a_client_error(body, ctype):
    with pytest.raises(ClientError):
        multipart.parse(body, ctype)


@pytest.mark.parametrize("size,quality,expected", [
    ("1024x1024", None, {"aspectRatio": "1:1"}), ("1792x1024", "hd", {"aspectRatio": "16:9", "imageSize": "4K"}),
    ("1024x1536", "medium", {"aspectRatio": "2:3", "imageSize": "2K"}), ("16:9", None, {"aspectRatio": "16:9"}),
    ("auto", "auto", {}), (None, "standard", {"imageSize": "1K"}),
    ("2048x2048", None, {"aspectRatio": "1:1", "imageSize": "2K"}),
])
def test_image_config(size, quality, expected):
    assert openai_media.image_config(size, quality) == expected


def test_image_request_and_response():
    hub, n, fmt = openai_media.image_request({"prompt": "otter", "n": "3", "style": "vivid"}, [("image/png", b"P")])
    assert (n, fmt) == (3, "b64_json")
    assert hub["contents"][0]["parts"] == [{"text": "otter, style: vivid"},
                                           {"inlineData": {"mimeType": "image/png", "data": "UA=="}}]
    events = [{"candidates": [{"content": {"parts": [{"text": "Here: "}, {"inlineData": {"mimeType": "image/png",
                                                                                          "data": "AAA"}}]},
                               "finishReason": "STOP"}]}]
    assert openai_media.images_response([events], 5, "url") == {
        "created": 5, "data": [{"url": "data:image/png;base64,AAA", "revised_prompt": "Here:"}]}


def test_image_model_choice():
    assert openai_media.image_model("dall-e-3", "dall-e-3") == openai_media.DEFAULT_IMAGE_MODEL
    assert openai_media.image_model("gemini-3-pro-image-preview", "gemini-3-pro-image-preview") == \
        "gemini-3-pro-image-preview"


def test_transcription_request():
    hub, fmt = openai_media.transcription_request({"language": "de", "response_format": "text"}, "audio/wav", b"RIFF")
    assert fmt == "text" and "language 'de'" in hub["contents"][0]["parts"][0]["text"]
    assert openai_media.audio_type("x.M4A", "") == "audio/aac"
    with pytest.raises(ClientError):
        openai_media.transcription_request({"response_format": "srt"}, "audio/wav", b"")
