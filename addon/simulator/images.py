"""What the simulated image models draw: a small solid-colour PNG whose colour the prompt picks.

Real image models answer with an `inlineData` part (`image/png`, base64); tests only need a
valid, deterministic image, so the same prompt gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

SIZE = 8


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(prompt: str) -> bytes:
    r, g, b = hashlib.sha256(prompt.encode()).digest()[:3]
    row = b"\x00" + bytes((r, g, b)) * SIZE
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(row * SIZE))
            + _chunk(b"IEND", b""))


def inline_png(prompt: str) -> dict[str, str]:
    return {"mimeType": "image/png", "data": base64.b64encode(png(prompt)).decode()}


def draws(model: str) -> bool:
    """Image models by name, as Google names them (`gemini-2.5-flash-image`, `…-image-preview`)."""
    return "-image" in model
