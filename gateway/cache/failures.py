"""Failed cache backend operations: counted always, logged once per interval."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from gateway.cache.base import CacheStats

log = structlog.get_logger(__name__)

# A broken backend fails every request; one warning per interval says so.
BACKEND_WARN_INTERVAL = 10.0


class BackendFailures:
    """Counts failed backend operations in ``stats`` and warns at most once per interval.

    Args:
        stats: ``backend_errors`` is bumped for every failure.
        timer: monotonic seconds, for spacing the warnings.
    """

    def __init__(self, stats: CacheStats, timer: Callable[[], float] = time.monotonic) -> None:
        self._stats = stats
        self._timer = timer
        self._warned_at: float | None = None
        self._unwarned = 0

    def record(self, operation: str, key: str, exc: Exception) -> None:
        """Count one failure; log it unless a warning went out within the interval."""
        self._stats.backend_errors += 1
        now = self._timer()
        if self._warned_at is not None and now - self._warned_at < BACKEND_WARN_INTERVAL:
            self._unwarned += 1
            return
        log.warning(
            "cache_backend_failed",
            operation=operation,
            key=key,
            error=type(exc).__name__,
            suppressed=self._unwarned,
        )
        self._warned_at = now
        self._unwarned = 0
