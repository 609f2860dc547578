"""UpstreamClient: the policy around every request to OL Connect — token, slot, breaker, retry.

Two ways to call: `request` reads a whole (bounded) answer for the cache and
the validated write; `open` hands a streaming answer to the forwarder. Both
hold one of `upstream.max_connections` slots (waiting at most
`upstream.timeout` for one, else 503), fail fast while the circuit breaker is
open, and give the breaker its verdict. A refused token (401/403) is renewed
once and the request retried once — never a loop, and never when the body
could not be kept (SPEC §8.4). The exchange itself, and the translation of
its errors, is `gateway.upstream.wire`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Final

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict

from gateway.errors import ServiceUnavailable, UpstreamError, UpstreamTimeout
from gateway.telemetry.metrics import Metrics
from gateway.upstream.bodies import RequestBody
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.events import REDIRECT, STATUS_5XX, UpstreamEvents, login_cause
from gateway.upstream.events import TOKEN_REFUSED as REFUSED_TOKEN
from gateway.upstream.tokens import UpstreamTokens
from gateway.upstream.wire import UpstreamResponse, Wire

TOKEN_REFUSED: Final = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN})
RETRY_NOW: Final = {str(hdrs.RETRY_AFTER): "1"}


class _LoginFailed(Exception):
    """A re-login inside a request failed: not the data request's verdict on the upstream."""

    def __init__(self, error: UpstreamError | UpstreamTimeout) -> None:
        super().__init__(error.message)
        self.error = error


class TokenRefused(ServiceUnavailable):
    """The upstream refused the token on a streamed body that cannot be sent twice."""

    message = "upstream token was refused; retry"


class UpstreamBusy(ServiceUnavailable):
    """Every upstream slot stayed taken for `upstream.timeout`."""

    message = "upstream busy: too many requests in flight"


class UpstreamClient:
    """Sends requests to OL Connect on behalf of every client.

    Args:
        session: the pooled session (its connector allows a few more connections
            than there are slots, so a login never waits behind a stream).
        tokens: the token lifecycle.
        base_url: OL Connect base URL, no trailing slash.
        metrics: counts upstream requests and their latency by route.
        breaker: fails requests fast while the upstream is down.
        timeout: `upstream.timeout`: the wait for a slot, for an answer head, and
            for each next byte of a streamed body.
        max_connections: how many requests may be in flight at once.
        events: logs why requests fail (rate-limited) and tells readiness.
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
        timeout: float = 10.0,
        max_connections: int = 100,
        events: UpstreamEvents | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.breaker = breaker
        self.events = events or UpstreamEvents()
        self._tokens = tokens
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._wire = Wire(
            session,
            base_url=base_url,
            metrics=metrics,
            events=self.events,
            timeout=timeout,
            timer=timer,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        max_body: int,
    ) -> UpstreamResponse:
        """Send one request and read its whole answer (decoded, at most ``max_body`` bytes).

        Returns any answer below 300 and client errors (404, 400) as they are.

        Raises:
            UpstreamError: unreachable, 3xx, 5xx, token refused twice, broken or
                oversized body (`AnswerTooLarge`).
            UpstreamTimeout: no complete answer within upstream.timeout.
            CircuitOpen: the breaker is open; nothing was sent.
            UpstreamBusy: no slot freed within upstream.timeout.
        """
        with self._verdict(route):
            async with self._slot():
                token = await self._token()
                return await self._exchange(method, path, route, token, body, headers, max_body)

    @contextlib.asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        route: str,
        headers: CIMultiDict[str],
        body: RequestBody | None,
        resend: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a forwarded request and yield the answer once its head is in.

        The caller reads the answer's body. Upstream 4xx and 5xx answers are
        yielded as they are: only a missing answer is an error. The slot is held
        until the caller is done with the answer. ``resend=False`` (a GET that
        changes state, SPEC §10.2): a broken connection is never followed by a
        second send; a refused token still is, since OL Connect ran nothing then.

        Raises:
            UpstreamError: unreachable, or the connection broke before the head.
            UpstreamTimeout: no progress for upstream.timeout before the head.
            TokenRefused: the token was refused on a body that could not be kept.
            CircuitOpen, UpstreamBusy: nothing was sent.
            PayloadTooLarge, RequestTimeout: the client's streamed body was cut off.
        """
        with self._verdict(route):
            await self._take_slot()
            try:
                token = await self._token()
                answer = await self._wire.stream(
                    method, path, route, token, headers, body, resend=resend
                )
                if answer.status in TOKEN_REFUSED:
                    answer.release()
                    answer = await self._after_refusal(
                        method, path, route, token, headers, body, resend
                    )
            except BaseException:
                self._slots.release()
                raise
        try:
            yield answer
        finally:
            answer.release()
            self._slots.release()

    @contextlib.contextmanager
    def _verdict(self, route: str) -> Iterator[None]:
        """Let the request out past the breaker, then tell it how the upstream did.

        A failed login is no verdict on the upstream (it backs off on its own), nor
        is a cancelled request, one that found no slot, or one whose client body failed.
        """
        self.breaker.acquire()
        try:
            yield
        except _LoginFailed as failed:
            self.breaker.release()
            self.events.failure(route, login_cause(failed.error), stage="login")
            raise failed.error from None
        except (UpstreamError, UpstreamTimeout):
            self.breaker.failure()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.success()

    async def _after_refusal(
        self,
        method: str,
        path: str,
        route: str,
        token: str,
        headers: CIMultiDict[str],
        body: RequestBody | None,
        resend: bool,
    ) -> aiohttp.ClientResponse:
        """Log in again (once, shared) and resend — only a body that was kept."""
        try:
            renewed = await self._tokens.renew_after_rejection(token)
        except (UpstreamError, UpstreamTimeout) as exc:
            raise _LoginFailed(exc) from None
        if body is not None and body.kept is None:
            # A streamed body is gone: sending it twice is impossible, and for an
            # operation it would start a second job. The client's retry finds `renewed`.
            raise TokenRefused(headers=dict(RETRY_NOW))
        return await self._wire.stream(method, path, route, renewed, headers, body, resend=resend)

    async def _take_slot(self) -> None:
        """One of `upstream.max_connections` slots, or 503 after upstream.timeout."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: no timer to arm and cancel
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise UpstreamBusy(headers=dict(RETRY_NOW)) from None

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        await self._take_slot()
        try:
            yield
        finally:
            self._slots.release()

    async def _token(self) -> str:
        # The breaker does not count login failures: UpstreamTokens backs off on its
        # own (fails fast, exponentially), and a refused password is no outage a
        # cool-down heals — counting it would hide "upstream authentication failed"
        # behind "circuit open". A probe whose login fails hands its slot back.
        try:
            return await self._tokens.token()
        except (UpstreamError, UpstreamTimeout) as exc:
            raise _LoginFailed(exc) from None

    async def _exchange(
        self,
        method: str,
        path: str,
        route: str,
        token: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        max_body: int,
    ) -> UpstreamResponse:
        async def send(with_token: str) -> UpstreamResponse:
            return await self._wire.send(method, path, route, with_token, body, headers, max_body)

        response = await send(token)
        if response.status in TOKEN_REFUSED:
            try:
                token = await self._tokens.renew_after_rejection(token)
            except (UpstreamError, UpstreamTimeout) as exc:
                raise _LoginFailed(exc) from None
            response = await send(token)
            if response.status in TOKEN_REFUSED:
                self.events.failure(route, REFUSED_TOKEN, status=response.status)
                raise UpstreamError("upstream refused the gateway's session")
        if response.status >= HTTPStatus.INTERNAL_SERVER_ERROR or (
            HTTPStatus.MULTIPLE_CHOICES <= response.status < HTTPStatus.BAD_REQUEST
        ):
            cause = STATUS_5XX if response.status >= HTTPStatus.INTERNAL_SERVER_ERROR else REDIRECT
            self.events.failure(route, cause, status=response.status)
            raise UpstreamError()
        return response
