"""The upstream token lifecycle: login, early renewal, re-login after a 401, backoff.

One `UpstreamTokens` per app holds the only copy of the OL Connect token, in
memory. It never appears in a log line, an exception or a response.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from http import HTTPStatus

import aiohttp
import structlog
from aiohttp import hdrs
from pydantic import SecretStr

from gateway.catalogue import LOGIN
from gateway.errors import UpstreamAuthError, UpstreamError, UpstreamTimeout
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.redaction import register_secret

LOGIN_PATH = LOGIN.template  # the catalogue's: one place names OL Connect's paths
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0

log = structlog.get_logger(__name__)


class UpstreamTokens:
    """Holds the gateway's OL Connect token and keeps it fresh.

    Args:
        session: the pooled upstream session.
        base_url: OL Connect base URL, no trailing slash.
        username, password: the gateway's own upstream credentials.
        token_ttl: lifetime assumed when the login answer has no Token-Expires-In.
        refresh_before: renew this many seconds before expiry, in the background.
        metrics: counts logins by outcome.
        clock: monotonic seconds; injected so tests can advance time.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        username: str,
        password: SecretStr,
        token_ttl: float,
        refresh_before: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._login_url = base_url + LOGIN_PATH
        # SECURITY: the credentials live only in this header value, never in a repr or log.
        self._login_headers = {
            hdrs.AUTHORIZATION: aiohttp.encode_basic_auth(username, password.get_secret_value()),
            hdrs.ACCEPT_ENCODING: "identity",
        }
        self._token_ttl = token_ttl
        self._refresh_before = refresh_before
        self._metrics = metrics
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._renewal: asyncio.Task[None] | None = None
        self._failure: UpstreamError | UpstreamTimeout | None = None
        self._retry_at = 0.0
        self._backoff = 0.0

    def seconds_left(self) -> float:
        """Seconds until the current token expires; 0 when there is none."""
        if self._token is None:
            return 0.0
        return max(0.0, self._expires_at - self._clock())

    @property
    def last_failure(self) -> str | None:
        """Why the last login failed (a safe message), or None after a success."""
        return self._failure.message if self._failure else None

    async def token(self) -> str:
        """A valid token, logging in if there is none; near expiry, renew in the background."""
        now = self._clock()
        token = self._token
        if token is not None and now < self._expires_at:
            if now >= self._expires_at - self._refresh_before:
                self._start_renewal()
            return token
        return await self._login_once(stale=token)

    async def renew_after_rejection(self, rejected: str) -> str:
        """The upstream answered 401 for `rejected`: log in again, unless another request did."""
        return await self._login_once(stale=rejected, dead=True)

    async def close(self) -> None:
        """Cancel a running background renewal."""
        if self._renewal is not None:
            self._renewal.cancel()
            await asyncio.gather(self._renewal, return_exceptions=True)

    def _start_renewal(self) -> None:
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        # A failure is logged by _login; the current token stays valid until it expires.
        with contextlib.suppress(UpstreamError, UpstreamTimeout):
            await self._login_once(stale=self._token)

    async def _login_once(self, *, stale: str | None, dead: bool = False) -> str:
        async with self._lock:
            # Another request may have logged in while this one waited for the lock.
            if self._token is not None and self._token != stale:
                return self._token
            if dead:
                self._token = None  # the upstream refused it: never hand it out again
            if self._failure is not None and self._clock() < self._retry_at:
                raise type(self._failure)()  # backing off: fail fast, no login
            return await self._login()

    async def _login(self) -> str:
        started = self._clock()
        try:
            # auto_decompress: a server that gzips anyway still yields a readable token.
            async with self._session.post(
                self._login_url,
                headers=self._login_headers,
                allow_redirects=False,
                auto_decompress=True,
            ) as response:
                body = await response.text()
                status = response.status
                expires_in = response.headers.get("Token-Expires-In")
        except TimeoutError:
            raise self._fail(UpstreamTimeout(), outcome="error", reason="timeout") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._fail(UpstreamError(), outcome="error", reason=type(exc).__name__) from None
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            raise self._fail(UpstreamAuthError(), outcome="rejected", reason=f"status {status}")
        token = body.strip()
        if status != HTTPStatus.OK or not token:
            raise self._fail(UpstreamError(), outcome="error", reason=f"status {status}")
        self._token = token
        register_secret(token, slot="upstream_token")
        self._expires_at = started + _lifetime(expires_in, self._token_ttl)
        self._failure = None
        self._backoff = 0.0
        self._metrics.logins.labels("ok").inc()
        log.info("upstream_login", outcome="ok", token_expires_in=round(self.seconds_left()))
        return token

    def _fail(
        self, error: UpstreamError | UpstreamTimeout, *, outcome: str, reason: str
    ) -> UpstreamError | UpstreamTimeout:
        """Record a failed login and back off exponentially before the next attempt.

        A token that is still valid is kept: a failed early renewal is no outage.
        """
        self._failure = error
        self._backoff = min(BACKOFF_MAX, self._backoff * 2 or BACKOFF_FIRST)
        self._retry_at = self._clock() + self._backoff
        self._metrics.logins.labels(outcome).inc()
        log.warning("upstream_login_failed", outcome=outcome, reason=reason, retry_in=self._backoff)
        return error


def _lifetime(header: str | None, default: float) -> float:
    """Token lifetime from Token-Expires-In (OL Connect 2021.2+), else the configured one."""
    try:
        seconds = float(header) if header is not None else default
    except ValueError:
        seconds = default
    return seconds if seconds > 0 else default
