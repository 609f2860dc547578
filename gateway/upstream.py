"""UpstreamClient: requests to OL Connect with the gateway's token, errors mapped once.

Connection errors, 5xx, redirects and payload errors become `UpstreamError`
(502); timeouts become `UpstreamTimeout` (504). A refused token (401/403) is
renewed once and the request retried once — never a loop. A `CircuitBreaker`
stops sending requests for a cool-down after repeated failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import aiohttp
from aiohttp import hdrs

from gateway.breaker import CircuitBreaker
from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.metrics import Metrics
from gateway.tokens import UpstreamTokens

_TOKEN_REFUSED = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN})


class _LoginFailed(Exception):
    """A re-login inside a request failed: not the data request's verdict on the upstream."""

    def __init__(self, error: UpstreamError | UpstreamTimeout) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A complete upstream answer: status, content type, body, and how long it took."""

    status: int
    content_type: str
    body: bytes
    seconds: float


class UpstreamClient:
    """Sends requests to OL Connect on behalf of every client.

    Args:
        session: the pooled session (limits and timeout set by the app).
        tokens: the token lifecycle.
        base_url: OL Connect base URL, no trailing slash.
        metrics: counts upstream requests and their latency by route.
        breaker: fails requests fast while the upstream is down.
        timer: measures upstream latency.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: UpstreamTokens,
        *,
        base_url: str,
        metrics: Metrics,
        breaker: CircuitBreaker,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._session = session
        self.breaker = breaker
        self._tokens = tokens
        self._base_url = base_url
        self._metrics = metrics
        self._timer = timer

    async def request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> UpstreamResponse:
        """Send one request; on a refused token, log in again and retry once.

        Returns any answer below 300 and client errors (404, 400) as they are.

        Raises:
            UpstreamError: unreachable, 3xx, 5xx, token refused twice, broken body.
            UpstreamTimeout: slower than upstream.timeout.
            CircuitOpen: the breaker is open; nothing was sent.
        """
        self.breaker.acquire()
        try:
            # The breaker does not count login failures: UpstreamTokens backs off on its
            # own (fails fast, exponentially), and a refused password is no outage a
            # cool-down heals — counting it would hide "upstream authentication failed"
            # behind "circuit open". A probe whose login fails hands its slot back.
            token = await self._tokens.token()
        except BaseException:
            self.breaker.release()
            raise
        try:
            response = await self._exchange(method, path, route, token, body, content_type)
        except _LoginFailed as failed:
            self.breaker.release()
            raise failed.error from None
        except (UpstreamError, UpstreamTimeout):
            self.breaker.failure()
            raise
        except BaseException:
            self.breaker.release()  # cancelled: no verdict on the upstream
            raise
        self.breaker.success()
        return response

    async def _exchange(
        self,
        method: str,
        path: str,
        route: str,
        token: str,
        body: bytes | None,
        content_type: str | None,
    ) -> UpstreamResponse:
        async def send(with_token: str) -> UpstreamResponse:
            return await self._send(method, path, route, with_token, body, content_type)

        response = await send(token)
        if response.status in _TOKEN_REFUSED:
            try:
                token = await self._tokens.renew_after_rejection(token)
            except (UpstreamError, UpstreamTimeout) as exc:
                raise _LoginFailed(exc) from None
            response = await send(token)
            if response.status in _TOKEN_REFUSED:
                raise UpstreamError("upstream refused the gateway's session")
        if response.status >= HTTPStatus.INTERNAL_SERVER_ERROR or (
            HTTPStatus.MULTIPLE_CHOICES <= response.status < HTTPStatus.BAD_REQUEST
        ):
            raise UpstreamError()
        return response

    async def _send(
        self,
        method: str,
        path: str,
        route: str,
        token: str,
        body: bytes | None,
        content_type: str | None,
    ) -> UpstreamResponse:
        headers = {"auth_token": token}
        if content_type is not None:
            headers[hdrs.CONTENT_TYPE] = content_type
        started = self._timer()
        try:
            async with self._session.request(
                method,
                self._base_url + path,
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as answer:
                data = await answer.read()
                status = answer.status
                received_type = answer.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
        except TimeoutError:
            self._count(route, "timeout", started)
            raise UpstreamTimeout() from None
        except (aiohttp.ClientError, OSError):
            self._count(route, "error", started)
            raise UpstreamError() from None
        seconds = self._count(route, str(status), started)
        return UpstreamResponse(status, received_type, data, seconds)

    def _count(self, route: str, outcome: str, started: float) -> float:
        seconds = self._timer() - started
        self._metrics.observe_upstream(route, outcome, seconds)
        return seconds
