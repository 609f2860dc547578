"""What the cache service hands out: results built from stored entries, reuse of fresh ones."""

from __future__ import annotations

from gateway.cache.base import Entry
from gateway.cache.results import CacheOutcome, CacheResult, Fetched, as_loaded, from_entry

JSON = "application/json"
STORED_AT = 1_000_000.0


def _entry(ttl: float = 60.0) -> Entry:
    return Entry(200, JSON, b'{"v":1}', STORED_AT, ttl)


def test_results_from_entry_reports_age_and_ttl_left() -> None:
    """A hit 12.5 s after storing is 12 s old with 47 s of its 60 s left; a stale one has
    a negative ttl."""
    assert from_entry(_entry(), CacheOutcome.HIT, STORED_AT + 12.5) == CacheResult(
        200, JSON, b'{"v":1}', CacheOutcome.HIT, 12, 47, True
    )
    stale = from_entry(_entry(), CacheOutcome.STALE, STORED_AT + 70.0)
    assert (stale.age, stale.ttl_left) == (70, -10)


def test_results_as_loaded_only_for_fresh_entries() -> None:
    """A fresh entry stands for a load (answer and entry); a missing or expired one does not."""
    entry = _entry()
    assert as_loaded(entry, STORED_AT + 59.9) == (Fetched(200, JSON, b'{"v":1}'), entry)
    assert as_loaded(entry, STORED_AT + 60.0) is None
    assert as_loaded(None, STORED_AT) is None
