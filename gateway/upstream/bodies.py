"""Request and answer bodies: a client's body held or streamed once, bounded reads, safe JSON.

A forwarded request body of at most `KEEP_LIMIT` bytes is read whole and kept,
so it can be sent again after the upstream refused the token (SPEC §8.4); a
larger one streams through once, counted against `server.max_body`.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from aiohttp import hdrs, web

from gateway.errors import GatewayError, PayloadTooLarge, RequestTimeout, UpstreamError

KEEP_LIMIT: Final = 1024 * 1024  # SPEC §8.4: bodies up to 1 MiB are kept for one retry
CHUNK: Final = 64 * 1024


class RequestBody:
    """A client's request body on its way upstream.

    Args:
        kept: the whole body, when it is small enough to keep (sent as bytes).
        request: the client request still holding the rest of a large body.
        prefix: what was read of a large body to decide it was large.
        length: the client's Content-Length, when it gave one.
        max_body: `server.max_body`; a streamed body past it is cut off with 413.
        client_timeout: the longest wait for the client's next byte.
        count: called with each chunk's size as it goes upstream (metrics).
    """

    def __init__(
        self,
        *,
        kept: bytes | None,
        request: web.Request | None = None,
        prefix: bytes = b"",
        length: int | None = None,
        max_body: int = 0,
        client_timeout: float = 30.0,
        count: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self.kept = kept
        self.length = length
        self._request = request
        self._prefix = prefix
        self._max_body = max_body
        self._client_timeout = client_timeout
        self._count = count
        self.failure: GatewayError | None = None  # why the stream stopped, when it was us

    def payload(self, on_progress: Callable[[bool], None]) -> bytes | AsyncIterator[bytes]:
        """What to hand aiohttp: the kept bytes, or a generator that streams the rest.

        ``on_progress(waiting_for_client)`` is called around every read from the
        client, so the caller's upstream deadline runs only while the upstream
        is the one keeping us waiting.
        """
        if self.kept is not None:
            self._count(len(self.kept))
            return self.kept
        return self._stream(on_progress)

    async def _stream(self, on_progress: Callable[[bool], None]) -> AsyncIterator[bytes]:
        if self._request is None:  # a kept body never streams
            return
        content = self._request.content
        sent = 0
        chunk = self._prefix
        while chunk:
            sent += len(chunk)
            if sent > self._max_body:
                self.failure = PayloadTooLarge(parameter=str(self._max_body))
                raise self.failure
            self._count(len(chunk))
            yield chunk
            on_progress(True)
            try:
                async with asyncio.timeout(self._client_timeout):
                    chunk = await content.readany()
            except TimeoutError:
                self.failure = RequestTimeout(parameter="body")
                raise self.failure from None
            on_progress(False)


async def read_body(
    request: web.Request,
    *,
    max_body: int,
    client_timeout: float,
    count: Callable[[int], None] = lambda _n: None,
) -> RequestBody | None:
    """Take the client's body: None without one; kept when small; else ready to stream.

    Raises:
        PayloadTooLarge: a Content-Length over ``max_body`` (nothing was read or sent).
        RequestTimeout: the client did not send its body within ``client_timeout``.
    """
    if not request.body_exists:
        return None
    length = request.content_length
    if length is not None and length > max_body:
        raise PayloadTooLarge(parameter=str(max_body))
    content = request.content
    parts: list[bytes] = []
    held = 0
    try:
        async with asyncio.timeout(client_timeout) as deadline:
            while held <= KEEP_LIMIT:
                chunk = await content.readany()
                if not chunk:
                    body = b"".join(parts)
                    return RequestBody(kept=body, length=length, count=count)
                parts.append(chunk)
                held += len(chunk)
                deadline.reschedule(asyncio.get_running_loop().time() + client_timeout)
    except TimeoutError:
        raise RequestTimeout(parameter="body") from None
    return RequestBody(
        kept=None,
        request=request,
        prefix=b"".join(parts),
        length=length,
        max_body=max_body,
        client_timeout=client_timeout,
        count=count,
    )


def loads(data: bytes | str) -> Any:
    """Parse JSON; nesting too deep for the parser is invalid JSON, not a crash.

    Raises:
        ValueError: not JSON (bad syntax, not UTF-8, or nested past the recursion limit).
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def is_json_type(content_type: str) -> bool:
    """application/json or a +json type: a JSON body under another label is not trusted."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


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
    chunks: AsyncIterator[bytes], *, limit: int, content_encoding: str | None = None
) -> bytes:
    """Read a whole answer body, decoded, stopping as soon as it passes ``limit`` bytes.

    The bound holds for the decoded size too (zlib's ``max_length``), so a small
    gzip bomb is refused without being inflated.

    Raises:
        AnswerTooLarge: the body (or what it decodes to) is over ``limit``.
        UpstreamError: a corrupt compressed body.
    """
    inflater = _inflater(content_encoding)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
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


def content_length(headers: Any) -> int | None:
    """The Content-Length header as an int, or None when absent or garbled."""
    value = headers.get(hdrs.CONTENT_LENGTH)
    if value is None or not value.isdigit():
        return None
    return int(value)
