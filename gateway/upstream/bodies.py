"""Request bodies: a client's body kept or streamed (decided once), paced and bounded; safe JSON.

A forwarded request body of at most `KEEP_LIMIT` bytes is read whole and kept,
so it can be sent again after the upstream refused the token (SPEC §8.4); a
larger one streams through once, counted against `server.max_body`. Whether
a body is kept or streamed is decided here, by `read_body`, and read by
everyone else from `RequestBody.streamed`.

A slot upstream is taken only after the body is whole (kept) or its first
`KEEP_LIMIT` bytes are in (streamed), and the body must keep making progress
— `PROGRESS` bytes, or its end, within `server.client_timeout` of waiting on
the client — or it is cut off with 408: a trickle cannot hold a slot (F4).
Every byte held in memory on the way counts against `server.max_buffered` (F5).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from aiohttp import hdrs, web

from gateway.errors import ClientGone, PayloadTooLarge
from gateway.telemetry.stdlog import parser_error
from gateway.upstream.budgets import BodyBudget

KEEP_LIMIT: Final = 1024 * 1024  # SPEC §8.4: bodies up to 1 MiB are kept for one retry
CHUNK: Final = 64 * 1024
# What counts as progress of a client's body: this many bytes (or its end) within
# server.client_timeout of waiting — about 550 B/s at the default 30 s. A byte now
# and then is no progress: it would hold a slot for ever (issue 23, F4).
PROGRESS: Final = 16 * 1024


class _Pace:
    """Reads a client's body, cutting it off once it stops making progress.

    Only time spent waiting on the client counts: while the upstream is slow to
    take what was read, the client is not to blame.
    """

    __slots__ = ("_budget", "_request", "_since", "_waited")

    def __init__(self, request: web.Request, budget: BodyBudget) -> None:
        self._request = request
        self._budget = budget
        self._waited = 0.0
        self._since = 0

    async def read(self) -> bytes:
        """The next chunk of the body, ``b""`` at its end.

        Raises:
            RequestTimeout: no `PROGRESS` bytes within `client_timeout` of waiting.
            HttpProcessingError: the parser refused the body's framing (a 400, logged once).
            ClientGone: the client hung up.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self._budget.client_timeout - self._waited):
                chunk = await self._request.content.readany()
        except TimeoutError:
            raise self._budget.stalled() from None
        except Exception as exc:
            if parser_error(exc) is not None:
                raise  # the error middleware answers it as every parser rejection
            raise ClientGone() from None  # the connection was lost
        self._waited += loop.time() - started
        self._since += len(chunk)
        if self._since >= PROGRESS or not chunk:
            self._since = 0
            self._waited = 0.0
        return chunk


class RequestBody:
    """A client's request body on its way upstream: kept whole, or streamed once.

    Args:
        kept: the whole body, when it is small enough to keep (sent as bytes, and
            again after a refused token).
        pace: reads the rest of a streamed body from the client.
        prefix: what was read of a streamed body to decide it was large.
        length: the client's Content-Length, when it gave one.
        max_body: `server.max_body`; a streamed body past it is cut off with 413.
        budget: holds the bytes read so far (``held``) until `release`.
        held: bytes of ``kept`` or ``prefix`` taken from the budget.
        count: called with each chunk's size as it goes upstream (metrics).
    """

    def __init__(
        self,
        *,
        kept: bytes | None,
        pace: _Pace | None = None,
        prefix: bytes = b"",
        length: int | None = None,
        max_body: int = 0,
        budget: BodyBudget | None = None,
        held: int = 0,
        count: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self.kept = kept
        self.length = length
        self._pace = pace
        self._prefix = prefix
        self._max_body = max_body
        self._budget = budget
        self._held = held
        self._count = count
        # Why the stream stopped, when the client's side stopped it: a GatewayError
        # (413, 408, 499) or the parser's refusal of the body's framing.
        self.failure: Exception | None = None

    @property
    def streamed(self) -> bool:
        """Streamed once (and never sent twice), or kept whole: decided by `read_body`."""
        return self.kept is None

    def headers(self) -> dict[str, str]:
        """Framing headers to send upstream: a streamed body of known size goes as sized."""
        if self.streamed and self.length is not None:
            return {hdrs.CONTENT_LENGTH: str(self.length)}
        return {}  # aiohttp sizes a kept body itself

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

    def release(self) -> None:
        """The bytes held for this body are no longer held (idempotent)."""
        if self._budget is not None and self._held:
            self._budget.give(self._held)
        self._held = 0

    async def _stream(self, on_progress: Callable[[bool], None]) -> AsyncIterator[bytes]:
        if self._pace is None:  # a kept body never streams
            return
        sent = 0
        chunk = self._prefix
        self._prefix = b""
        while chunk:
            sent += len(chunk)
            if sent > self._max_body:
                self.failure = PayloadTooLarge(parameter=str(self._max_body))
                raise self.failure
            self._count(len(chunk))
            yield chunk
            self.release()  # the prefix is out: from here on chunks pass straight through
            on_progress(True)
            try:
                chunk = await self._pace.read()
            except Exception as exc:
                self.failure = exc
                raise
            on_progress(False)


async def read_body(
    request: web.Request,
    *,
    max_body: int,
    budget: BodyBudget,
    count: Callable[[int], None] = lambda _n: None,
) -> RequestBody | None:
    """Take the client's body: None without one; kept when small; else ready to stream.

    The caller calls `RequestBody.release` once the body has gone upstream.

    Raises:
        PayloadTooLarge: over ``max_body`` (nothing was sent).
        RequestTimeout: the body made no progress for `server.client_timeout`.
        BuffersFull: `server.max_buffered` bytes of bodies are already held.
        ClientGone: the client hung up mid-body.
        HttpProcessingError: the parser refused the body's framing.
    """
    if not request.body_exists:
        return None
    length = request.content_length
    if length is not None and length > max_body:
        raise PayloadTooLarge(parameter=str(max_body))
    pace = _Pace(request, budget)
    parts: list[bytes] = []
    held = 0
    try:
        while held <= KEEP_LIMIT:
            chunk = await pace.read()
            if not chunk:
                return RequestBody(
                    kept=b"".join(parts), length=length, budget=budget, held=held, count=count
                )
            if held + len(chunk) > max_body:
                raise PayloadTooLarge(parameter=str(max_body))
            budget.take(len(chunk))
            parts.append(chunk)
            held += len(chunk)
    except BaseException:
        budget.give(held)
        raise
    return RequestBody(
        kept=None,
        pace=pace,
        prefix=b"".join(parts),
        length=length,
        max_body=max_body,
        budget=budget,
        held=held,
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


def content_length(headers: Any) -> int | None:
    """The Content-Length header as an int, or None when absent or garbled."""
    value = headers.get(hdrs.CONTENT_LENGTH)
    if value is None or not value.isdigit():
        return None
    return int(value)
