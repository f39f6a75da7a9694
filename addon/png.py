"""A tiny PNG writer and raster canvas, so `interlock stats --png` needs no plotting library.

PNG is a signature and three chunks (IHDR, IDAT, IEND), each length + type + data + CRC32; the
image data is zlib-compressed scanlines, each prefixed with filter type 0. Text uses a 3×5 pixel
font covering what the chart labels need.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
Color = tuple[int, int, int]

_FONT = {  # 3 columns × 5 rows, one string of "#" and "." per row
    "0": "###|#.#|#.#|#.#|###", "1": ".#.|##.|.#.|.#.|###", "2": "###|..#|###|#..|###",
    "3": "###|..#|.##|..#|###", "4": "#.#|#.#|###|..#|..#", "5": "###|#..|###|..#|###",
    "6": "###|#..|###|#.#|###", "7": "###|..#|.#.|.#.|.#.", "8": "###|#.#|###|#.#|###",
    "9": "###|#.#|###|..#|###", ":": "...|.#.|...|.#.|...", "-": "...|...|###|...|...",
    ".": "...|...|...|...|.#.", "k": "#..|#.#|##.|#.#|#.#", "M": "#.#|###|###|#.#|#.#",
    "G": "###|#..|#.#|#.#|###", " ": "...|...|...|...|...", "/": "..#|..#|.#.|#..|#..",
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


class Canvas:
    """An RGB image in memory; `png()` encodes it."""

    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill [x0, x1) × [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        if x1 <= x0:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(max(0, y0), min(self.height, y1)):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: Color = (60, 60, 60), scale: int = 2) -> None:
        for ch in text:
            glyph = _FONT.get(ch, _FONT[" "])
            for gy, line in enumerate(glyph.split("|")):
                for gx, bit in enumerate(line):
                    if bit == "#":
                        self.rect(x + gx * scale, y + gy * scale, x + (gx + 1) * scale, y + (gy + 1) * scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride]) for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def short(n: float) -> str:
    """12345 → 12.3k: labels that fit under a bar."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + unit
    return str(int(n))


def stacked_bars(labels: list[str], series: list[tuple[Color, list[float]]], height: int = 240) -> bytes:
    """One stacked bar per label (e.g. per hour), the largest total labelled at the top."""
    bar, gap, left, bottom, top = 14, 4, 8, 26, 22
    width = max(120, left * 2 + len(labels) * (bar + gap))
    canvas = Canvas(width, height)
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    plot = height - bottom - top
    canvas.rect(left, height - bottom, width - left, height - bottom + 1, (120, 120, 120))
    canvas.text(left, 4, short(max(totals, default=0)))
    every = max(1, len(labels) // 12)
    for i, label in enumerate(labels):
        x = left + i * (bar + gap)
        y = height - bottom
        for color, values in series:
            h = round(values[i] / peak * plot)
            canvas.rect(x, y - h, x + bar, y, color)
            y -= h
        if i % every == 0:
            canvas.text(x, height - bottom + 6, label[:2], scale=2)
    return canvas.png()
