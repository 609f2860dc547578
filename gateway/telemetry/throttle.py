"""Events that can repeat once per request, logged at most once per cause and interval.

An outage, a misbehaving client or a guessing attack makes every request
log the same warning; logging each floods the log and hides the one line
that matters. The first event of a cause is logged at once, the next at
most once per `interval`, carrying how many were left out in between
(`suppressed`). Upstream failures (`gateway.upstream.events`) and the
per-request warnings (`RepeatedWarnings`) share the gate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

import structlog

DEFAULT_INTERVAL = 60.0
# Keys beyond this are pruned of those idle for an interval: a cause keyed by a
# client address must not grow without bound under a spread-out attack.
MAX_KEYS = 1000

log = structlog.get_logger("gateway.warnings")


class Throttle:
    """Per-key gate: open for the first event, then once per `interval`; counts the rest.

    Args:
        interval: seconds between two admitted events of one key.
        clock: monotonic seconds; injected so tests can advance time.
    """

    __slots__ = ("_clock", "_interval", "_last", "_suppressed")

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def admit(self, key: Hashable) -> int | None:
        """None when this event is left out; else how many were left out before it."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        if last is None and len(self._last) >= MAX_KEYS:
            self._prune(now)
        self._last[key] = now
        return self._suppressed.pop(key, 0)

    def _prune(self, now: float) -> None:
        """Forget keys idle for an interval (their next event is logged anyway)."""
        for key in [k for k, last in self._last.items() if now - last >= self._interval]:
            del self._last[key]
            self._suppressed.pop(key, None)


class RepeatedWarnings:
    """Warnings that may come once per request, each (event, cause) once per interval.

    Args:
        interval: seconds between two lines of the same event and cause.
        clock: monotonic seconds; injected so tests can advance time.
    """

    def __init__(
        self, *, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._throttle = Throttle(interval, clock)

    def warning(self, event: str, cause: Hashable, **fields: Any) -> None:
        """Log `event` (a constant) with `fields`, unless the same event and cause was
        logged within the interval; the line carries `suppressed`, the count left out.

        `cause` keys the gate (an error class, a client name, an address) and is not
        logged by itself: the fields name it as the event always has.
        """
        suppressed = self._throttle.admit((event, cause))
        if suppressed is not None:
            log.warning(event, suppressed=suppressed, **fields)
