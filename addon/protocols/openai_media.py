"""OpenAI Images and audio transcription ↔ hub requests for Gemini image and audio models.

Pure. Image generation and edits become one `generateContent`-shaped hub request per image
(`n` asks for n of them: Gemini image models give one image per candidate, and not every model
takes `candidateCount`); what comes back is the `inlineData` parts. A transcription is a user
turn with the instruction and the audio, and the answer's text.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from addon.errors import ClientError

DEFAULT_IMAGE_MODEL = "gemini-2.5-flash-image"
DEFAULT_AUDIO_MODEL = "gemini-2.5-flash"
TRANSCRIBE = "Generate a transcript of the speech."
AUDIO_LIMIT = 15 * 1024 * 1024
RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
QUALITY = {"low": "1K", "standard": "1K", "1k": "1K", "medium": "2K", "2k": "2K", "high": "4K", "hd": "4K",
           "4k": "4K"}
AUDIO_TYPES = {"mp3": "audio/mp3", "mpeg": "audio/mpeg", "mpga": "audio/mpeg", "wav": "audio/wav",
               "m4a": "audio/aac", "aac": "audio/aac", "ogg": "audio/ogg", "oga": "audio/ogg",
               "flac": "audio/flac", "aiff": "audio/aiff", "aif": "audio/aiff", "webm": "audio/webm"}
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


def image_model(client_model: Any, mapped: str) -> str:
    """Gemini image models keep their name; DALL·E and gpt-image names get the default one."""
    if client_model is not None and not isinstance(client_model, str):
        raise ClientError("Invalid type for 'model': expected a string", param="model")
    return mapped if "-image" in mapped else DEFAULT_IMAGE_MODEL


def _int_field(value: Any, name: str, lo: int, hi: int, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, float) or not lo <= number <= hi:
        raise ClientError(f"Invalid '{name}': expected an integer from {lo} to {hi}, got {value!r}", param=name)
    return number


def image_config(size: Any, quality: Any) -> dict:
    config: dict[str, str] = {}
    if size not in (None, "", "auto"):
        if not isinstance(size, str):
            raise ClientError("Invalid type for 'size': expected a string like '1024x1024'", param="size")
        m = _SIZE.match(size)
        if size in RATIOS:
            config["aspectRatio"] = size
        elif m and int(m[1]) and int(m[2]):
            w, h = int(m[1]), int(m[2])
            config["aspectRatio"] = min(RATIOS, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - w / h))
            if max(w, h) >= 3000:
                config["imageSize"] = "4K"
            elif max(w, h) >= 1500:
                config["imageSize"] = "2K"
        else:
            raise ClientError(f"Invalid 'size': {size!r}; expected WIDTHxHEIGHT (e.g. '1024x1024'), a ratio such "
                              "as '16:9', or 'auto'", param="size")
    if quality not in (None, "", "auto"):
        if not isinstance(quality, str) or quality.lower() not in QUALITY:
            raise ClientError(f"Invalid 'quality': {quality!r}; expected one of auto, {', '.join(QUALITY)}",
                              param="quality")
        config["imageSize"] = QUALITY[quality.lower()]
    return config


def image_request(fields: dict, images: list[tuple[str, bytes]] = ()) -> tuple[dict, int, str]:
    """(hub request, n, response_format) for a generation (no images) or an edit (images, mask last)."""
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ClientError("'prompt' is required: a non-empty string", param="prompt")
    n = _int_field(fields.get("n"), "n", 1, 10, 1)
    fmt = fields.get("response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        raise ClientError(f"Invalid 'response_format': {fmt!r}; expected 'b64_json' or 'url'", param="response_format")
    style = fields.get("style")
    if style not in (None, "", "vivid", "natural"):
        raise ClientError(f"Invalid 'style': {style!r}; expected 'vivid' or 'natural'", param="style")
    text = f"{prompt}, style: {style}" if style else prompt
    parts: list[dict] = [{"text": text}]
    parts += [{"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}} for mime, data in images]
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if (image := image_config(fields.get("size"), fields.get("quality"))):
        config["imageConfig"] = image
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}, n, fmt


def images_response(answers: list[list[dict]], created: int, response_format: str) -> dict:
    """Every image of every answer, in order; text the model wrote alongside is `revised_prompt`."""
    data = []
    for events in answers:
        texts, blobs = [], []
        for event in events:
            for cand in event.get("candidates") or ():
                for part in (cand.get("content") or {}).get("parts") or ():
                    if isinstance(part.get("inlineData"), dict):
                        blobs.append(part["inlineData"])
                    elif isinstance(part.get("text"), str) and not part.get("thought"):
                        texts.append(part["text"])
        for blob in blobs:
            item: dict[str, str] = ({"b64_json": blob.get("data", "")} if response_format == "b64_json" else
                                    {"url": f"data:{blob.get('mimeType', 'image/png')};base64,{blob.get('data', '')}"})
            if "".join(texts).strip():
                item["revised_prompt"] = "".join(texts).strip()
            data.append(item)
    return {"created": created, "data": data}


def audio_type(filename: str, content_type: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in AUDIO_TYPES:
        return AUDIO_TYPES[ext]
    if content_type.startswith("audio/"):
        return content_type.split(";")[0]
    raise ClientError(f"Invalid file format for {filename!r}: supported formats are "
                      f"{', '.join(sorted(AUDIO_TYPES))}", param="file")


def transcription_request(fields: dict, mime: str, data: bytes) -> tuple[dict, str]:
    """(hub request, response_format)."""
    fmt = fields.get("response_format") or "json"
    if fmt not in ("json", "text"):
        raise ClientError(f"Invalid 'response_format': {fmt!r}; supported here: 'json' and 'text'",
                          param="response_format")
    instruction = TRANSCRIBE
    if fields.get("language"):
        instruction += f" The speech is in language '{fields['language']}'."
    if fields.get("prompt"):
        instruction += f" Context: {fields['prompt']}"
    parts = [{"text": instruction}, {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}]
    config: dict[str, Any] = {}
    if fields.get("temperature") not in (None, ""):
        try:
            config["temperature"] = float(fields["temperature"])
        except ValueError:
            raise ClientError("Invalid 'temperature': expected a number", param="temperature") from None
    hub: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}]}
    if config:
        hub["generationConfig"] = config
    return hub, fmt


def transcript(events: list[dict]) -> str:
    return "".join(part["text"] for e in events for c in e.get("candidates") or ()
                   for part in (c.get("content") or {}).get("parts") or ()
                   if isinstance(part.get("text"), str) and not part.get("thought")).strip()
