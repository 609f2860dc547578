"""Pure freshness rules: explicit ``now`` values, no sockets, no event loop."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.cache.base import CacheStats, Entry, Freshness, age, classify, ttl_left

STORED_AT = 1_000_000.0
TTL = 60.0


def _entry(ttl: float = TTL) -> Entry:
    return Entry(
        status=200, content_type="application/json", body=b"{}", stored_at=STORED_AT, ttl=ttl
    )


@pytest.mark.parametrize(
    ("offset", "swr", "sie", "expected"),
    [
        (0.0, 0.0, 0.0, Freshness.FRESH),
        (TTL - 0.001, 0.0, 0.0, Freshness.FRESH),
        (TTL, 0.0, 0.0, Freshness.EXPIRED),  # exactly at ttl: no longer fresh
        (TTL, 0.0, 300.0, Freshness.STALE_IF_ERROR),
        (TTL + 299.999, 0.0, 300.0, Freshness.STALE_IF_ERROR),
        (TTL + 300.0, 0.0, 300.0, Freshness.EXPIRED),  # exactly at ttl + window
        (TTL, 30.0, 300.0, Freshness.STALE_REVALIDATE),
        (TTL + 29.999, 30.0, 300.0, Freshness.STALE_REVALIDATE),
        (TTL + 30.0, 30.0, 300.0, Freshness.STALE_IF_ERROR),
        (TTL + 30.0, 30.0, 0.0, Freshness.EXPIRED),
        (TTL + 100.0, 300.0, 30.0, Freshness.STALE_REVALIDATE),  # wider swr window wins
        (TTL + 300.0, 300.0, 30.0, Freshness.EXPIRED),
        (-5.0, 0.0, 0.0, Freshness.FRESH),  # wall clock behind the writer's
    ],
)
def test_classify_table(offset: float, swr: float, sie: float, expected: Freshness) -> None:
    """An entry is fresh before ttl, then stale within each half-open window, then expired."""
    now = STORED_AT + offset
    assert classify(_entry(), now, stale_while_revalidate=swr, stale_if_error=sie) is expected


def test_classify_zero_ttl_is_never_fresh() -> None:
    """An entry with no fresh lifetime is not fresh even at the instant it was stored."""
    got = classify(_entry(ttl=0.0), STORED_AT, stale_while_revalidate=0.0, stale_if_error=0.0)
    assert got is Freshness.EXPIRED


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0.0, 0), (0.999, 0), (1.0, 1), (42.7, 42), (-3.0, 0)],
)
def test_age_whole_seconds_never_negative(offset: float, expected: int) -> None:
    """Age is whole seconds since storing, clamped at zero under clock skew."""
    assert age(_entry(), STORED_AT + offset) == expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0.0, 60),
        (17.5, 42),
        (TTL - 0.5, 0),
        (TTL, -1),  # exactly at expiry: stale, so negative
        (TTL + 0.5, -1),
        (TTL + 1.0, -1),
        (TTL + 3.5, -4),
    ],
)
def test_ttl_left_negative_once_stale(offset: float, expected: int) -> None:
    """Freshness left is whole seconds, and at most -1 once the entry is not fresh."""
    assert ttl_left(_entry(), STORED_AT + offset) == expected


def test_cache_stats_start_at_zero() -> None:
    """Every counter starts at zero and is a plain int."""
    values = dataclasses.astuple(CacheStats())
    assert values == (0,) * len(values)
    assert all(type(value) is int for value in values)
