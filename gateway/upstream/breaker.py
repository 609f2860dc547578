"""Circuit breaker for the upstream: fail fast while OL Connect is down, probe once to recover.

Closed: requests flow; `failures` consecutive failures open the circuit.
Open: every request fails fast with `CircuitOpen` (a 502, or STALE through the
cache's stale-if-error) for `cooldown` seconds — no waiting on a dead upstream.
Half-open: after the cool-down exactly one request (the probe) goes through;
its success closes the circuit, its failure opens it for another cool-down.

Every success goes to `on_success` (readiness follows it) and every change of
state to `on_transition` (a log event).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable

from aiohttp import hdrs

from gateway.errors import CircuitOpen


class BreakerState(enum.IntEnum):
    """The breaker's state; its value is the `olcg_upstream_breaker_state` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Counts consecutive upstream failures and decides whether a request may go out.

    Args:
        failures: consecutive failures that open the circuit.
        cooldown: seconds the circuit stays open before one probe is let through.
        clock: monotonic seconds; injected so tests can advance time.
        on_reject: called once per request refused while open (a metric).
        on_success: called for every request the upstream answered.
        on_transition: called with (old, new) state names when the state changes.
    """

    def __init__(
        self,
        *,
        failures: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        on_reject: Callable[[], object] = lambda: None,
        on_success: Callable[[], object] = lambda: None,
        on_transition: Callable[[str, str], object] = lambda _old, _new: None,
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        self._on_reject = on_reject
        self._on_success = on_success
        self._on_transition = on_transition
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """Closed, open, or half-open (the cool-down is over, a probe may go or is out)."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock() >= self._opened_at + self._cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_in(self) -> float:
        """Seconds until the next probe may go out; 0 unless open."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self._clock())

    def acquire(self) -> None:
        """Let a request go out, or raise `CircuitOpen`.

        In half-open state the first caller becomes the probe; it must end with
        exactly one of `success`, `failure` or `release`.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            self._on_transition("open", "half_open")  # the cool-down ended: a probe goes out
            return
        self._on_reject()
        raise CircuitOpen(headers={hdrs.RETRY_AFTER: str(max(1, math.ceil(self.retry_in())))})

    def success(self) -> None:
        """The upstream answered: close the circuit and forget earlier failures."""
        old = self.state
        self._failures = 0
        self._opened_at = None
        self._probing = False
        self._on_success()
        self._report(old)

    def failure(self) -> None:
        """The upstream failed (unreachable, timeout, 5xx, 3xx): count it; open at the threshold."""
        old = self.state
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._probing = False
        self._report(old)

    def release(self) -> None:
        """The request ended without a verdict on the upstream (cancelled, login failed).

        A probe's slot is handed back so the next request probes instead.
        """
        self._probing = False

    def _report(self, old: BreakerState) -> None:
        new = self.state
        if new is not old:
            self._on_transition(old.name.lower(), new.name.lower())
