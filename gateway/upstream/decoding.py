"""Answer bodies: read whole and bounded, decoded, and told apart (an OL Connect JSON Error or not).

The bound holds for the decoded size too (zlib's ``max_length``), so a small
gzip bomb is refused without being inflated.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.errors import UpstreamError
from gateway.upstream.bodies import is_json_type, loads


class AnswerTooLarge(UpstreamError):
    """An upstream answer bigger than the gateway holds in memory (`cache.max_body`)."""

    message = "upstream answer too large"


def _inflater(content_encoding: str | None) -> Any:
    """A zlib decompressor for the answer's ``Content-Encoding``; None for identity."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise UpstreamError("upstream answer has an unsupported content encoding")


async def read_bounded(
    next_chunk: Callable[[], Awaitable[bytes]], *, limit: int, content_encoding: str | None = None
) -> bytes:
    """Read a whole answer body, decoded, stopping as soon as it passes ``limit`` bytes.

    Args:
        next_chunk: the next chunk of the body as it came, ``b""`` at its end.
        limit: the most bytes held, before and after decoding.
        content_encoding: the answer's ``Content-Encoding``.

    Raises:
        AnswerTooLarge: the body (or what it decodes to) is over ``limit``.
        UpstreamError: a corrupt compressed body.
    """
    inflater = _inflater(content_encoding)
    parts: list[bytes] = []
    size = 0
    while chunk := await next_chunk():
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, limit - size + 1)
            except zlib.error:
                raise UpstreamError("upstream sent a corrupt compressed answer") from None
            if inflater.unconsumed_tail:
                raise AnswerTooLarge(parameter=str(limit))
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(parameter=str(limit))
        parts.append(chunk)
    if inflater is not None and not inflater.eof:
        raise UpstreamError("upstream sent a truncated compressed answer")
    return b"".join(parts)


def decoded(body: bytes, content_encoding: str | None, limit: int) -> bytes | None:
    """A whole body decoded, or None when it is corrupt, truncated, or decodes past ``limit``."""
    try:
        inflater = _inflater(content_encoding)
        if inflater is None:
            return body
        data = inflater.decompress(body, limit + 1)
    except (UpstreamError, zlib.error):
        return None
    return data if inflater.eof and len(data) <= limit else None


def is_json_error(content_type: str, body: bytes) -> bool:
    """Whether an answer is OL Connect's JSON Error: ``{"error": {"status", "message", ...}}``.

    A 5xx carrying one is the server's answer to the request (SPEC §10.3); a 5xx
    without one (a proxy's page, a crash) is an outage.
    """
    if not is_json_type(content_type):
        return False
    try:
        document = loads(body)
    except ValueError:  # not JSON, not UTF-8, or nested too deeply
        return False
    error = document.get("error") if isinstance(document, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("status"), int)
        and isinstance(error.get("message"), str)
    )
