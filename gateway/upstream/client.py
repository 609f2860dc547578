"""UpstreamClient: the policy around every request to OL Connect — slot, breaker, token, one retry.

One pipeline, as httpcore builds it: the wire's streaming primitive
(`Wire.open`: send, get the answer once its head is in) wrapped once in the
policy (`_exchange`): a slot of `upstream.max_connections` within the client's
share (`Slots`), the circuit breaker's leave and verdict, a token, and one
retry rule — a refused token (401/403) is renewed once and the request sent
again once, only when its body was kept (SPEC §8.4). Two ways to call it:

- `open` yields the answer with its head in, for the forwarder to stream;
- `request` reads a whole bounded answer on top of it, for the cached reads,
  the validated write and the readiness probe.

The verdict (SPEC §10.3): no connection, a timeout, a dropped answer, and a
5xx without an OL Connect JSON Error body are the upstream's failures; a 5xx
with one is the server's answer to a bad request, and a client's hang-up,
stalled or oversized body, or a 4xx is no verdict on the upstream at all.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

import aiohttp
from aiohttp import hdrs

from gateway.errors import ServiceUnavailable, UpstreamError, UpstreamTimeout
from gateway.telemetry.metrics import Metrics
from gateway.upstream.bodies import RequestBody
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.budgets import RETRY_NOW, Share, Slots
from gateway.upstream.decoding import is_json_error
from gateway.upstream.events import REDIRECT, STATUS_5XX, UpstreamEvents, login_cause
from gateway.upstream.events import TOKEN_REFUSED as REFUSED_TOKEN
from gateway.upstream.tokens import UpstreamTokens
from gateway.upstream.wire import Answer, Wire

TOKEN_REFUSED: Final = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN})


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A complete upstream answer: status, content type, body, and how long it took."""

    status: int
    content_type: str
    body: bytes
    seconds: float


class _LoginFailed(Exception):
    """A re-login inside a request failed: not the data request's verdict on the upstream."""

    def __init__(self, error: UpstreamError | UpstreamTimeout) -> None:
        super().__init__(error.message)
        self.error = error


class TokenRefused(ServiceUnavailable):
    """The upstream refused the token on a streamed body that cannot be sent twice."""

    message = "upstream token was refused; retry"


class UpstreamAnswered(UpstreamError):
    """A cached route's upstream answered 5xx with an OL Connect JSON Error: a 502, no outage."""

    message = "upstream answered with an error"


class _Call:
    """One exchange under way: its answer, and whether the breaker has had its verdict."""

    __slots__ = ("answer", "judged")

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.judged = False


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
        fair_share: a client's share of them when its `max_concurrent` is unset.
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
        fair_share: int | None = None,
        events: UpstreamEvents | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.breaker = breaker
        self.events = events or UpstreamEvents()
        self._tokens = tokens
        self.slots = Slots(
            max_connections,
            timeout=timeout,
            fair_share=fair_share or max(1, max_connections // 4),
            events=self.events,
        )
        self._wire = Wire(
            session,
            base_url=base_url,
            metrics=metrics,
            events=self.events,
            timeout=timeout,
            timer=timer,
        )

    @contextlib.asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        route: str,
        headers: Mapping[str, str],
        body: RequestBody | None,
        share: Share | None = None,
        resend: bool = True,
    ) -> AsyncIterator[Answer]:
        """Send a forwarded request and yield the answer once its head is in.

        Upstream 3xx, 4xx and 5xx answers are yielded as they are: only a missing
        answer is an error. The slot is held until the caller is done with the answer.
        ``resend=False`` (a GET that changes state, SPEC §10.2): a broken connection
        is never followed by a second send; a refused token still is, since OL
        Connect ran nothing then.

        Raises:
            UpstreamError: unreachable, or the connection broke before the head.
            UpstreamTimeout: no progress for upstream.timeout before the head.
            TokenRefused: the token was refused on a body that could not be kept.
            CircuitOpen, UpstreamBusy, ClientBusy: nothing was sent.
            PayloadTooLarge, RequestTimeout, ClientGone: the client's body was cut off.
        """
        async with self._exchange(method, path, route, headers, body, share, resend) as call:
            answer = call.answer
            ok = answer.status < HTTPStatus.INTERNAL_SERVER_ERROR or await answer.is_json_error()
            self._judge(call, route, ok=ok)
            yield answer

    async def request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        max_body: int,
        share: Share | None = None,
    ) -> UpstreamResponse:
        """Send one request and read its whole answer (decoded, at most ``max_body`` bytes).

        Returns any answer below 300 and client errors (404, 400) as they are.

        Raises:
            UpstreamAnswered: a 5xx with an OL Connect JSON Error (no outage).
            UpstreamError: unreachable, 3xx, other 5xx, token refused twice, broken or
                oversized body (`AnswerTooLarge`).
            UpstreamTimeout: no complete answer within upstream.timeout.
            CircuitOpen: the breaker is open; nothing was sent.
            UpstreamBusy, ClientBusy: no slot freed within upstream.timeout.
        """
        # identity: the cache stores what it checked; a server that gzips anyway is decoded.
        sent = {hdrs.ACCEPT_ENCODING: "identity", **(headers or {})}
        kept = None if body is None else RequestBody(kept=body)
        async with self._exchange(method, path, route, sent, kept, share) as call:
            answer = call.answer
            data = await answer.read(max_body)
            status = answer.status
            if status in TOKEN_REFUSED:  # after the one retry
                self.events.failure(route, REFUSED_TOKEN, status=status)
                raise UpstreamError("upstream refused the gateway's session")
            if status >= HTTPStatus.INTERNAL_SERVER_ERROR and is_json_error(
                answer.content_type, data
            ):
                self._judge(call, route, ok=True)  # the server answered: a bad request
                raise UpstreamAnswered()
            if status >= HTTPStatus.MULTIPLE_CHOICES and not (
                HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR
            ):
                cause = STATUS_5XX if status >= HTTPStatus.INTERNAL_SERVER_ERROR else REDIRECT
                self.events.failure(route, cause, status=status)
                raise UpstreamError()
            return UpstreamResponse(status, answer.content_type, data, answer.elapsed())

    @contextlib.asynccontextmanager
    async def _exchange(
        self,
        method: str,
        path: str,
        route: str,
        headers: Mapping[str, str],
        body: RequestBody | None,
        share: Share | None,
        resend: bool = True,
    ) -> AsyncIterator[_Call]:
        """The policy around one exchange: breaker, slot, token, one retry; then the verdict.

        Yields the call with its answer's head in. The verdict is the caller's
        (`_judge`) or, unless given, follows how the block ended: an upstream
        error or timeout is a failure, any other exception (the client's body,
        a cancelled request, no slot) no verdict, a normal end a success.
        """
        self.breaker.acquire()
        call: _Call | None = None
        try:
            async with self.slots.hold(share):
                call = _Call(await self._send(method, path, route, headers, body, resend))
                try:
                    yield call
                finally:
                    call.answer.release()
        except _LoginFailed as failed:
            self.breaker.release()
            self.events.failure(route, login_cause(failed.error), stage="login")
            raise failed.error from None
        except (UpstreamError, UpstreamTimeout):
            if call is None or not call.judged:
                self.breaker.failure()
            raise
        except BaseException:
            if call is None or not call.judged:
                self.breaker.release()
            raise
        if not call.judged:
            self.breaker.success()

    def _judge(self, call: _Call, route: str, *, ok: bool) -> None:
        """Give the breaker its verdict now (the rest of the exchange cannot change it)."""
        call.judged = True
        if ok:
            self.breaker.success()
            return
        self.events.failure(route, STATUS_5XX, status=call.answer.status)
        self.breaker.failure()

    async def _send(
        self,
        method: str,
        path: str,
        route: str,
        headers: Mapping[str, str],
        body: RequestBody | None,
        resend: bool,
    ) -> Answer:
        """Send with the current token; after a refusal, log in again (once, shared) and
        resend — only a body that was kept."""
        token = await self._token()
        answer = await self._wire.open(method, path, route, token, headers, body, resend=resend)
        if answer.status not in TOKEN_REFUSED:
            return answer
        answer.release()
        try:
            renewed = await self._tokens.renew_after_rejection(token)
        except (UpstreamError, UpstreamTimeout) as exc:
            raise _LoginFailed(exc) from None
        if body is not None and body.streamed:
            # A streamed body is gone: sending it twice is impossible, and for an
            # operation it would start a second job. The client's retry finds `renewed`.
            raise TokenRefused(headers=dict(RETRY_NOW))
        return await self._wire.open(method, path, route, renewed, headers, body, resend=resend)

    async def _token(self) -> str:
        # The breaker does not count login failures: UpstreamTokens backs off on its
        # own (fails fast, exponentially), and a refused password is no outage a
        # cool-down heals — counting it would hide "upstream authentication failed"
        # behind "circuit open". A probe whose login fails hands its slot back.
        try:
            return await self._tokens.token()
        except (UpstreamError, UpstreamTimeout) as exc:
            raise _LoginFailed(exc) from None
