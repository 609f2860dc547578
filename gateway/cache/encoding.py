"""The stored form of a cache entry: a fixed ``struct`` header, the content type, the body.

No JSON and no copy of the body through a text codec: a HIT reads the bytes
and hands the body slice to the response as-is.
"""

from __future__ import annotations

import struct
from typing import Final

from gateway.cache.base import Entry

_HEADER: Final = struct.Struct("!BHddH")  # version, status, stored_at, ttl, len(content type)
_VERSION: Final = 1


def encode(entry: Entry) -> bytes:
    """The stored form of ``entry``: a 21-byte header, the content type, the body."""
    content_type = entry.content_type.encode()
    header = _HEADER.pack(_VERSION, entry.status, entry.stored_at, entry.ttl, len(content_type))
    return header + content_type + entry.body


def decode(raw: bytes) -> Entry:
    """The entry ``encode`` stored; ValueError for anything else."""
    if len(raw) < _HEADER.size:
        raise ValueError("not a cache entry")
    version, status, stored_at, ttl, type_length = _HEADER.unpack_from(raw)
    if version != _VERSION:
        raise ValueError(f"unknown cache entry version {version}")
    start = _HEADER.size + type_length
    return Entry(status, raw[_HEADER.size : start].decode(), raw[start:], stored_at, ttl)
