"""The gate shared by upstream failures and per-request warnings (pure, on a fake clock)."""

from __future__ import annotations

from conftest import FakeClock
from structlog.testing import capture_logs

from gateway.telemetry.throttle import MAX_KEYS, RepeatedWarnings, Throttle


def test_throttle_admits_the_first_then_one_per_interval_with_the_count(clock: FakeClock) -> None:
    """First event at once (0 left out); within the interval none; after it, the count."""
    gate = Throttle(60, clock)
    assert gate.admit("a") == 0
    assert [gate.admit("a") for _ in range(5)] == [None] * 5
    assert gate.admit("b") == 0  # another key has its own gate
    clock.advance(60)
    assert gate.admit("a") == 5
    assert gate.admit("a") is None


def test_throttle_keys_stay_bounded_under_many_causes(clock: FakeClock) -> None:
    """A flood of distinct keys (addresses) prunes those idle for an interval."""
    gate = Throttle(60, clock)
    for n in range(MAX_KEYS):
        gate.admit(n)
    clock.advance(60)
    for n in range(MAX_KEYS, 3 * MAX_KEYS):
        gate.admit(n)
        if n % MAX_KEYS == 0:
            clock.advance(60)
    assert len(gate._last) <= 2 * MAX_KEYS  # the bound is the point


def test_repeated_warnings_log_per_event_and_cause(clock: FakeClock) -> None:
    """One line per (event, cause) per interval, its fields as given, `suppressed` added."""
    warnings = RepeatedWarnings(interval=60, clock=clock)
    with capture_logs() as logs:
        for _ in range(3):
            warnings.warning("cache_stale_served", "UpstreamError", key="k", error="UpstreamError")
        warnings.warning("cache_stale_served", "UpstreamTimeout", key="k", error="UpstreamTimeout")
        clock.advance(60)
        warnings.warning("cache_stale_served", "UpstreamError", key="j", error="UpstreamError")
    assert [(e["error"], e["key"], e["suppressed"]) for e in logs] == [
        ("UpstreamError", "k", 0),
        ("UpstreamTimeout", "k", 0),
        ("UpstreamError", "j", 2),
    ]
    assert {e["log_level"] for e in logs} == {"warning"}
