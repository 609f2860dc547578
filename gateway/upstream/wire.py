"""The wire: the one streaming primitive — send a request, get its answer open once the head is in.

`Wire.open` sends one request with the token it is given and returns an
`Answer`: status and headers at once, the body read from it after, chunk by
chunk (the forwarder) or whole and bounded (the cache, the validated write,
readiness). It knows nothing of tokens, slots or the breaker (that is
`UpstreamClient`'s policy). Connection errors become `UpstreamError` (502),
timeouts `UpstreamTimeout` (504); each failure is reported to `UpstreamEvents`
(a rate-limited log event, and readiness), each exchange counted once in the
metrics when its answer is released.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Final

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.telemetry.metrics import Metrics
from gateway.upstream.bodies import RequestBody, is_json_type
from gateway.upstream.decoding import decoded, is_json_error, read_bounded
from gateway.upstream.events import INVALID_ANSWER, TIMEOUT, UpstreamEvents, connection_cause
from gateway.upstream.send_once import SEND_ONCE

TOKEN_HEADER: Final = "auth_token"  # noqa: S105 - a header name, not a secret
OCTETS: Final = "application/octet-stream"
# An OL Connect JSON Error is a few hundred bytes; a 5xx body past this is no JSON Error.
ERROR_PEEK: Final = 64 * 1024
# Streams are bounded by progress (SPEC §8.2), not by the session's total timeout.
_NO_TOTAL: Final = aiohttp.ClientTimeout(total=None)


class Wire:
    """Single exchanges with OL Connect.

    Args:
        session: the pooled session.
        base_url: OL Connect base URL, no trailing slash.
        metrics: counts upstream requests and their latency by route.
        events: explains failures (rate-limited) and tells readiness.
        timeout: `upstream.timeout`: the wait for an answer's head (while the
            upstream, not the client's upload, keeps us waiting), and for each next
            chunk of its body.
        timer: measures upstream latency.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        metrics: Metrics,
        events: UpstreamEvents,
        timeout: float,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._session = session
        self._base_url = base_url
        self._metrics = metrics
        self.events = events
        self.timeout = timeout
        # Without a streamed upload the answer's progress is aiohttp's to time (each
        # socket read), at no cost per chunk; an upload that outlasts the timeout while
        # the upstream stays silent would trip that timer, so streams time themselves.
        self._read_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout)
        self.timer = timer

    async def open(
        self,
        method: str,
        path: str,
        route: str,
        token: str,
        headers: Mapping[str, str],
        body: RequestBody | None,
        *,
        resend: bool = True,
    ) -> Answer:
        """Send one request; return its answer once the head is in (the caller releases it).

        ``resend=False``: never let aiohttp send it again after a broken connection.

        Raises:
            UpstreamTimeout: the upstream kept us waiting upstream.timeout for the head.
            UpstreamError: unreachable, or the connection broke before the head.
            PayloadTooLarge, RequestTimeout, ClientGone: the client's body failed (`body.failure`).
        """
        sent = CIMultiDict(headers)
        sent[TOKEN_HEADER] = token
        streamed = body is not None and body.streamed
        if body is not None:
            sent.update(body.headers())
        loop = asyncio.get_running_loop()
        waiting_for_head = True
        started = self.timer()
        try:
            async with asyncio.timeout(self.timeout) as deadline:

                def progress(waiting_for_client: bool) -> None:
                    # Only the upstream's silence counts against upstream.timeout; the
                    # body may still be on its way after the head (an early answer).
                    if waiting_for_head:
                        when = None if waiting_for_client else loop.time() + self.timeout
                        deadline.reschedule(when)

                payload = None if body is None else body.payload(progress)
                try:
                    response = await self._session.request(
                        method,
                        self._url(path),
                        headers=sent,
                        data=payload,
                        allow_redirects=False,
                        auto_decompress=False,
                        timeout=_NO_TOTAL if streamed else self._read_timeout,
                        middlewares=None if resend else SEND_ONCE,
                    )
                finally:
                    waiting_for_head = False
        except TimeoutError:
            raise self._timed_out(route, started) from None
        except (aiohttp.ClientError, OSError) as exc:
            if body is not None and body.failure is not None:
                self.count(route, "client", started)
                raise body.failure from None  # the client's body, not the upstream, failed
            raise self._broken(route, started, exc) from None
        if body is not None and body.failure is not None:
            response.close()
            self.count(route, "client", started)
            raise body.failure
        return Answer(self, response, route=route, started=started, timed=streamed)

    def record(self, route: str, outcome: str, seconds: float) -> None:
        """Count one exchange under `outcome` (a status, or why it failed) with its latency."""
        self._metrics.observe_upstream(route, outcome, seconds)

    def _timed_out(self, route: str, started: float) -> UpstreamTimeout:
        self.count(route, "timeout", started)
        self.events.failure(route, TIMEOUT)
        return UpstreamTimeout()

    def _broken(self, route: str, started: float, exc: BaseException) -> UpstreamError:
        self.count(route, "error", started)
        self.events.failure(route, connection_cause(exc), error=type(exc).__name__)
        return UpstreamError()

    def count(self, route: str, outcome: str, started: float) -> None:
        self.record(route, outcome, self.timer() - started)

    def _url(self, path: str) -> URL:
        # encoded=True: the path and query go out exactly as the client sent them;
        # yarl would otherwise requote them (%41 → A, %2F → /).
        return URL(self._base_url + path, encoded=True)


class Answer:
    """An upstream answer whose head is in: status and headers now, the body as it comes.

    Counted once in the metrics when released: under its status, or under why
    its body failed ("timeout", "error", "invalid"), with the time to its head.

    Args:
        wire: the wire it came over (timeouts, metrics, events).
        response: aiohttp's open answer.
        route: its route label.
        started: the wire's timer when the request went out.
        timed: time each chunk here (the request streamed a body, so aiohttp's
            socket-read timer is off).
    """

    def __init__(
        self,
        wire: Wire,
        response: aiohttp.ClientResponse,
        *,
        route: str,
        started: float,
        timed: bool,
    ) -> None:
        self._wire = wire
        self._response = response
        self._route = route
        self._started = started
        self._head_seconds = wire.timer() - started
        self._sent_at = asyncio.get_running_loop().time() - self._head_seconds
        self._timed = timed
        self._peeked: list[bytes] = []
        self._outcome = str(response.status)
        self._released = False

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def reason(self) -> str | None:
        return self._response.reason

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._response.headers

    @property
    def content_type(self) -> str:
        return self._response.headers.get(hdrs.CONTENT_TYPE, OCTETS)

    def elapsed(self) -> float:
        """Seconds since the request went out."""
        return self._wire.timer() - self._started

    async def next_chunk(self) -> bytes:
        """The body's next chunk as it came (``b""`` at its end), within upstream.timeout.

        Raises:
            UpstreamTimeout: no byte for upstream.timeout (reported).
            UpstreamError: the upstream broke the body off (reported).
        """
        if self._peeked:
            return self._peeked.pop(0)
        return await self._read()

    async def _read(self) -> bytes:
        content = self._response.content
        try:
            if self._timed:
                async with asyncio.timeout(self._wire.timeout):
                    return await content.readany()
            return await content.readany()  # aiohttp's socket-read timeout runs
        except TimeoutError:  # aiohttp's ServerTimeoutError is one too
            self._outcome = "timeout"
            self._wire.events.failure(self._route, TIMEOUT, stage="body")
            raise UpstreamTimeout() from None
        except (aiohttp.ClientError, OSError) as exc:
            self._outcome = "error"
            cause = connection_cause(exc)
            self._wire.events.failure(self._route, cause, stage="body", error=type(exc).__name__)
            raise UpstreamError() from None

    async def is_json_error(self) -> bool:
        """Whether the body is an OL Connect JSON Error (read ahead, kept for `next_chunk`).

        Raises:
            UpstreamError, UpstreamTimeout: the body broke off or stalled meanwhile.
        """
        if not is_json_type(self.content_type):
            return False
        size = 0
        while chunk := await self._read():
            self._peeked.append(chunk)
            size += len(chunk)
            if size > ERROR_PEEK:
                return False
        head = b"".join(self._peeked)
        body = decoded(head, self.headers.get(hdrs.CONTENT_ENCODING), ERROR_PEEK)
        return body is not None and is_json_error(self.content_type, body)

    async def read(self, limit: int) -> bytes:
        """The whole body, decoded, at most ``limit`` bytes, by upstream.timeout after sending.

        Raises:
            UpstreamTimeout: the whole answer took longer than upstream.timeout.
            UpstreamError: broken, corrupt, or larger than ``limit`` (`AnswerTooLarge`).
        """
        try:
            async with asyncio.timeout_at(self._sent_at + self._wire.timeout):
                return await read_bounded(
                    self.next_chunk,
                    limit=limit,
                    content_encoding=self._response.headers.get(hdrs.CONTENT_ENCODING),
                )
        except TimeoutError:
            self._outcome = "timeout"
            self._wire.events.failure(self._route, TIMEOUT, stage="body")
            raise UpstreamTimeout() from None
        except UpstreamError as exc:
            if self._outcome == str(self.status):  # not already reported by next_chunk
                self._outcome = "invalid"
                self._wire.events.failure(self._route, INVALID_ANSWER, error=type(exc).__name__)
            raise

    def release(self) -> None:
        """Done with the answer: count it, and free its connection (idempotent)."""
        if self._released:
            return
        self._released = True
        self._response.release()
        self._wire.record(self._route, self._outcome, self._head_seconds)
