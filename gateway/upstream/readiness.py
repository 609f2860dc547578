"""Readiness: is OL Connect answering now? The last upstream outcome, checked by a bounded probe.

The rule (docs/operations.md, "Health and readiness"):

- Every upstream exchange reports its outcome: a request the upstream answered
  is a success — a 5xx carrying OL Connect's JSON Error too, its answer to a
  bad request (SPEC §10.3); a refused or reset connection, a timeout, a
  dropped answer, a 5xx without a JSON Error, a 3xx on a cached route, an
  invalid answer or a failed login is a failure. A client's hang-up, a body
  it stalled or sent too large, and a budget's refusal are neither.
- Ready while the last outcome is a success less than `fresh` seconds old.
- Not ready while the last outcome is a failure, whatever token is held.
- When the last success is older than `fresh` (no traffic), or the last failure
  older than the current back-off, one probe (a handshake request, which logs
  in if needed) goes out and decides. At most one probe is in flight; callers
  share it and wait for it at most `wait` seconds.
- While failing, probes are spaced: `backoff_first` seconds after a failure,
  doubling after each failed probe up to `backoff_max`; a success resets it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import structlog

from gateway.catalogue.routes import JOB_SEGMENTS
from gateway.errors import GatewayError, UpstreamAuthError, UpstreamError, UpstreamTimeout
from gateway.upstream.events import LOGIN_REJECTED, TIMEOUT

# The job segment service handshake: the lightest request that needs a token.
PROBE_PATH = JOB_SEGMENTS.path  # its handshake: cheap, and every OL Connect serves it
PROBE_ROUTE = "probe"  # its `route` in metrics and log events
PROBE_MAX_BODY = 64 * 1024  # a handshake is one line of text
FRESH = 10.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 10.0

log = structlog.get_logger(__name__)

_REASONS = {TIMEOUT: UpstreamTimeout.message, LOGIN_REJECTED: UpstreamAuthError.message}


class NotReady(NamedTuple):
    """Why the gateway is not ready: a safe message and the failure's cause."""

    reason: str
    cause: str


class Readiness:
    """Tracks the upstream's last outcome and probes it when that is old.

    Args:
        wait: how long `check` waits for a probe before answering without it.
        fresh: seconds a success is trusted without a new probe.
        backoff_first, backoff_max: spacing of probes while the upstream fails.
        clock: monotonic seconds; injected so tests can advance time.
    """

    def __init__(
        self,
        *,
        wait: float,
        fresh: float = FRESH,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wait = wait
        self._fresh = fresh
        self._first = backoff_first
        self._max = backoff_max
        self._clock = clock
        self._ok: bool | None = None  # None: nothing has been tried yet
        self._at = 0.0
        self._cause = ""
        self._backoff = 0.0
        self._retry_at = 0.0
        self._probe: asyncio.Task[None] | None = None

    def succeeded(self) -> None:
        """The upstream answered a request."""
        self._ok = True
        self._at = self._clock()
        self._backoff = 0.0

    def failed(self, cause: str) -> None:
        """An upstream exchange failed with `cause` (see `gateway.upstream.events`)."""
        now = self._clock()
        self._ok = False
        self._at = now
        self._cause = cause
        self._retry_at = max(self._retry_at, now + (self._backoff or self._first))

    def verdict(self) -> NotReady | None:
        """The answer from what is known, without probing: None when ready."""
        if self._ok:
            return None
        if self._ok is None:
            return NotReady(UpstreamTimeout.message, TIMEOUT)  # the first probe is still out
        return NotReady(_REASONS.get(self._cause, UpstreamError.message), self._cause)

    def up(self) -> float:
        """1.0 after a success, 0.0 after a failure, NaN before any outcome (a metric)."""
        return math.nan if self._ok is None else float(self._ok)

    def age(self) -> float:
        """Seconds since the last outcome; NaN before any (a metric)."""
        return math.nan if self._ok is None else self._clock() - self._at

    async def check(self, probe: Callable[[], Awaitable[object]]) -> NotReady | None:
        """None when ready, else why not; runs `probe` when the last outcome is too old."""
        if self._needs_probe():
            if self._probe is None or self._probe.done():
                self._probe = asyncio.create_task(self._run(probe))
            # asyncio.wait never cancels what it waits for: a caller that gives up
            # leaves the probe running for the others.
            await asyncio.wait([self._probe], timeout=self._wait)
        return self.verdict()

    async def close(self) -> None:
        """Cancel a running probe (before the upstream session closes)."""
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)

    def _needs_probe(self) -> bool:
        now = self._clock()
        if self._ok is None:
            return True
        if self._ok:
            return now - self._at >= self._fresh
        return now >= self._retry_at

    async def _run(self, probe: Callable[[], Awaitable[object]]) -> None:
        try:
            await probe()  # its outcome arrives through succeeded() / failed()
        except GatewayError:
            pass  # reported as a failure already, or no verdict (circuit open)
        except Exception as exc:  # a bug must not leave a task's exception unretrieved
            log.error("readiness_probe_error", error=type(exc).__name__)
        if self._ok is None:
            self.failed("no_answer")  # the probe ended without any outcome
        if not self._ok:
            self._backoff = min(self._max, self._backoff * 2 or self._first)
            self._retry_at = self._clock() + self._backoff
