"""BackendFailures: every failed backend operation counted, one warning per interval."""

from __future__ import annotations

from conftest import FakeClock
from structlog.testing import capture_logs

from gateway.cache.base import CacheStats
from gateway.cache.failures import BACKEND_WARN_INTERVAL, BackendFailures


def test_failures_counted_always_warned_once_per_interval(clock: FakeClock) -> None:
    """A burst of failures is one warning; the next one after the interval says how many
    went unreported, and every failure is counted."""
    stats = CacheStats()
    failures = BackendFailures(stats, clock)
    with capture_logs() as logs:
        for _ in range(3):
            failures.record("get", "ds:1", ConnectionError("refused"))
        clock.advance(BACKEND_WARN_INTERVAL - 0.001)
        failures.record("set", "ds:2", TimeoutError())
        clock.advance(0.001)
        failures.record("delete", "md:3", TimeoutError())

    assert stats.backend_errors == 5
    assert [(e["operation"], e["key"], e["error"], e["suppressed"]) for e in logs] == [
        ("get", "ds:1", "ConnectionError", 0),
        ("delete", "md:3", "TimeoutError", 3),
    ]
    assert {e["log_level"] for e in logs} == {"warning"}
    assert not [e for e in logs if "refused" in str(e)]  # the type, never the message
