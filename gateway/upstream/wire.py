"""The wire: one upstream exchange, its errors translated, counted and explained once.

`Wire` knows nothing of tokens, slots or the breaker (that is `UpstreamClient`'s
policy); it sends one request with the token it is given and turns what came
back into an `UpstreamResponse` (read whole, bounded) or an open streaming
answer. Connection errors become `UpstreamError` (502), timeouts
`UpstreamTimeout` (504); each is counted in the metrics and reported to
`UpstreamEvents` (a rate-limited log event, and readiness).
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict
from yarl import URL

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.telemetry.metrics import Metrics
from gateway.upstream.bodies import CHUNK, RequestBody, read_bounded
from gateway.upstream.events import INVALID_ANSWER, TIMEOUT, UpstreamEvents, connection_cause

TOKEN_HEADER: Final = "auth_token"  # noqa: S105 - a header name, not a secret
_OCTETS: Final = "application/octet-stream"
# Streams are bounded by progress (SPEC §8.2), not by the session's total timeout.
_NO_TOTAL: Final = aiohttp.ClientTimeout(total=None)


class NotResent(aiohttp.ClientConnectionError):
    """The connection broke under a request that must not be sent twice (SPEC §10.2)."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        # `connection_cause` names it as it would have named the original: a reset.
        self.errno = getattr(original, "errno", None) or errno.ECONNRESET


async def _send_once(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """A client middleware: aiohttp resends an idempotent request (GET, PUT, DELETE) once
    when its connection breaks before the answer; OL Connect's GETs that delete or render
    may already have run, so for them that break is final."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # never connected: nothing was sent, and aiohttp does not resend it
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise NotResent(exc) from exc


SEND_ONCE: Final = (_send_once,)


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A complete upstream answer: status, content type, body, and how long it took."""

    status: int
    content_type: str
    body: bytes
    seconds: float


class Wire:
    """Single exchanges with OL Connect.

    Args:
        session: the pooled session.
        base_url: OL Connect base URL, no trailing slash.
        metrics: counts upstream requests and their latency by route.
        events: explains failures (rate-limited) and tells readiness.
        timeout: `upstream.timeout`: a whole buffered exchange, or a stream's head
            (and each upload chunk's progress) before it.
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
        self._timeout = timeout
        # Without a streamed upload the answer's progress is aiohttp's to time (each
        # socket read), at no cost per chunk; an upload that outlasts the timeout while
        # the upstream stays silent would trip that timer, so streams time themselves.
        self._read_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout)
        self._timer = timer

    async def send(
        self,
        method: str,
        path: str,
        route: str,
        token: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        max_body: int,
    ) -> UpstreamResponse:
        """One request, its whole answer read (decoded, at most ``max_body`` bytes).

        Raises:
            UpstreamTimeout: no complete answer within upstream.timeout.
            UpstreamError: unreachable, broken, corrupt or oversized (`AnswerTooLarge`).
        """
        # identity: the cache stores what it checked; a server that gzips anyway is decoded.
        sent = {hdrs.ACCEPT_ENCODING: "identity", **(headers or {}), TOKEN_HEADER: token}
        started = self._timer()
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.request(
                    method, self._url(path), headers=sent, data=body, allow_redirects=False
                ) as answer:
                    status = answer.status
                    received_type = answer.headers.get(hdrs.CONTENT_TYPE, _OCTETS)
                    data = await read_bounded(
                        answer.content.iter_chunked(CHUNK),
                        limit=max_body,
                        content_encoding=answer.headers.get(hdrs.CONTENT_ENCODING),
                    )
        except TimeoutError:
            raise self._timed_out(route, started) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._broken(route, started, exc) from None
        except UpstreamError as exc:
            self._count(route, "invalid", started)
            self.events.failure(route, INVALID_ANSWER, error=type(exc).__name__)
            raise
        seconds = self._count(route, str(status), started)
        return UpstreamResponse(status, received_type, data, seconds)

    async def stream(
        self,
        method: str,
        path: str,
        route: str,
        token: str,
        headers: CIMultiDict[str],
        body: RequestBody | None,
        *,
        resend: bool = True,
    ) -> aiohttp.ClientResponse:
        """One request, its answer open once the head is in (the caller releases it).

        ``resend=False``: never let aiohttp send it again after a broken connection.

        Raises:
            UpstreamTimeout: no progress for upstream.timeout before the head.
            UpstreamError: unreachable, or the connection broke before the head.
            PayloadTooLarge, RequestTimeout: the client's streamed body was cut off.
        """
        sent = headers  # the forwarder's own copy: setting the token twice (a retry) is fine
        streamed = body is not None and body.kept is None
        sent[TOKEN_HEADER] = token
        if body is not None and body.kept is None and body.length is not None:
            sent[hdrs.CONTENT_LENGTH] = str(body.length)  # stream it as sized, not chunked
        loop = asyncio.get_running_loop()
        waiting_for_head = True
        started = self._timer()
        try:
            async with asyncio.timeout(self._timeout) as deadline:

                def progress(waiting_for_client: bool) -> None:
                    # Only the upstream's silence counts against upstream.timeout; the
                    # body may still be on its way after the head (an early answer).
                    if waiting_for_head:
                        when = None if waiting_for_client else loop.time() + self._timeout
                        deadline.reschedule(when)

                payload = None if body is None else body.payload(progress)
                try:
                    answer = await self._session.request(
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
                self._count(route, "error", started)
                raise body.failure from None  # the client's body, not the upstream, failed
            raise self._broken(route, started, exc) from None
        if body is not None and body.failure is not None:
            answer.close()
            raise body.failure
        self._count(route, str(answer.status), started)
        return answer

    def _timed_out(self, route: str, started: float) -> UpstreamTimeout:
        self._count(route, "timeout", started)
        self.events.failure(route, TIMEOUT)
        return UpstreamTimeout()

    def _broken(self, route: str, started: float, exc: BaseException) -> UpstreamError:
        self._count(route, "error", started)
        self.events.failure(route, connection_cause(exc), error=type(exc).__name__)
        return UpstreamError()

    def _url(self, path: str) -> URL:
        # encoded=True: the path and query go out exactly as the client sent them;
        # yarl would otherwise requote them (%41 → A, %2F → /).
        return URL(self._base_url + path, encoded=True)

    def _count(self, route: str, outcome: str, started: float) -> float:
        seconds = self._timer() - started
        self._metrics.observe_upstream(route, outcome, seconds)
        return seconds
