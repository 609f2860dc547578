"""Small, valid images and archives for the simulated previews and the Conversion Service.

A rendered page is a grey square: a PNG (zlib, any size) or a baseline JPEG of one 8x8
block whose only coefficient is the mid-grey DC level, which two one-code Huffman tables
encode in two bits. Several pages go into a zip, as OL Connect answers with `archive`.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import Final

PNG_TYPE: Final = "image/png"
JPEG_TYPE: Final = "image/jpeg"
ZIP_TYPE: Final = "application/zip"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(width: int, height: int, grey: int) -> bytes:
    """A greyscale PNG of one shade (0..255)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    rows = b"".join(b"\x00" + bytes([grey]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg() -> bytes:
    """An 8x8 mid-grey baseline JPEG (one component)."""
    one_code = bytes([1]) + bytes(15) + b"\x00"  # one code of length 1, for symbol 0
    return b"".join(
        (
            b"\xff\xd8",  # SOI
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + bytes([1]) * 64),  # quantisation table 0: all ones
            _segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"),  # 8x8, grey
            _segment(0xC4, b"\x00" + one_code),  # DC table 0: category 0 -> "0"
            _segment(0xC4, b"\x10" + one_code),  # AC table 0: end of block -> "0"
            _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),  # scan: component 1, tables 0/0
            b"\x3f",  # DC diff 0 ("0"), EOB ("0"), padded with ones
            b"\xff\xd9",  # EOI
        )
    )


def page_image(kind: str, page: int, dpi: float, scale: float = 1.0) -> bytes:
    """One page rendered as `kind` (`png` or `jpg`/`jpeg`): its size follows dpi and scale."""
    if kind in ("jpg", "jpeg"):
        return jpeg()
    side = max(1, min(64, round(dpi * scale / 12)))
    return png(side, side, 96 + (page * 40) % 160)


def archive(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip of `(name, bytes)` entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in files:
            out.writestr(name, data)
    return buffer.getvalue()
