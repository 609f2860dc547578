"""MemoryBackend: LRU bound, eviction count, expiry after ttl + retention, delete/clear."""

from __future__ import annotations

import pytest
from conftest import WALL_START, FakeClock

from gateway.cache.base import CacheBackend, CacheStats, Entry
from gateway.cache.memory import MemoryBackend


@pytest.fixture
def clock() -> FakeClock:
    """A wall clock (entries are stamped with one) that moves only when told."""
    return FakeClock(WALL_START)


@pytest.fixture
def stats() -> CacheStats:
    return CacheStats()


def _entry(clock: FakeClock, body: bytes = b"{}", ttl: float = 60.0) -> Entry:
    return Entry(200, "application/json", body, clock(), ttl)


def _backend(
    clock: FakeClock, stats: CacheStats, *, max_entries: int = 100, retention: float = 30.0
) -> MemoryBackend:
    return MemoryBackend(max_entries=max_entries, retention=retention, stats=stats, clock=clock)


def test_memory_backend_satisfies_protocol(clock: FakeClock, stats: CacheStats) -> None:
    """MemoryBackend is accepted wherever a CacheBackend is expected."""
    backend: CacheBackend = _backend(clock, stats)
    assert backend.entry_count() == 0


async def test_memory_set_then_get_returns_same_entry(clock: FakeClock, stats: CacheStats) -> None:
    """A stored entry comes back unchanged, body bytes included."""
    backend = _backend(clock, stats)
    entry = _entry(clock, b'{"identifiers":[1,2]}')
    await backend.set("ds:1", entry)
    assert await backend.get("ds:1") is entry
    assert await backend.get("ds:2") is None


async def test_memory_eviction_bounds_entries(clock: FakeClock, stats: CacheStats) -> None:
    """Ten times max_entries distinct keys leave at most max_entries, each push-out counted."""
    backend = _backend(clock, stats, max_entries=50)
    for i in range(500):
        await backend.set(f"ds:{i}", _entry(clock))
    assert backend.entry_count() == 50
    assert stats.evictions == 450
    assert await backend.get("ds:0") is None
    assert await backend.get("ds:499") is not None


async def test_memory_eviction_is_least_recently_used(clock: FakeClock, stats: CacheStats) -> None:
    """A key read recently survives while the least recently used one is evicted."""
    backend = _backend(clock, stats, max_entries=2)
    await backend.set("a", _entry(clock))
    await backend.set("b", _entry(clock))
    assert await backend.get("a") is not None
    await backend.set("c", _entry(clock))
    assert await backend.get("a") is not None
    assert await backend.get("b") is None
    assert stats.evictions == 1


async def test_memory_expires_after_ttl_plus_retention(clock: FakeClock, stats: CacheStats) -> None:
    """An entry outlives its ttl by the retention, then is gone and not counted as eviction."""
    backend = _backend(clock, stats, retention=30.0)
    await backend.set("md:1", _entry(clock, ttl=60.0))
    clock.advance(89.999)
    assert await backend.get("md:1") is not None
    clock.advance(0.001)
    assert await backend.get("md:1") is None
    assert backend.entry_count() == 0
    assert stats.evictions == 0


async def test_memory_expired_entries_make_room_without_eviction(
    clock: FakeClock, stats: CacheStats
) -> None:
    """Entries past their retention that are pushed out for room are not counted as evictions."""
    backend = _backend(clock, stats, max_entries=3, retention=0.0)
    for key in ("a", "b", "c"):
        await backend.set(key, _entry(clock, ttl=10.0))
    clock.advance(10.0)
    for key in ("d", "e", "f"):
        await backend.set(key, _entry(clock, ttl=10.0))
    assert stats.evictions == 0
    assert backend.entry_count() == 3
    await backend.set("g", _entry(clock, ttl=10.0))  # "d" is live: a true eviction
    assert stats.evictions == 1
    assert await backend.get("d") is None
    assert await backend.get("e") is not None


async def test_memory_expired_entry_leaves_when_read(clock: FakeClock, stats: CacheStats) -> None:
    """Reading an entry past ttl + retention drops it, so it no longer takes room."""
    backend = _backend(clock, stats, retention=5.0)
    await backend.set("a", _entry(clock, ttl=10.0))
    await backend.set("b", _entry(clock, ttl=60.0))
    clock.advance(15.0)
    assert backend.entry_count() == 2
    assert await backend.get("a") is None
    assert backend.entry_count() == 1
    assert await backend.get("b") is not None


async def test_memory_delete_drops_named_keys(clock: FakeClock, stats: CacheStats) -> None:
    """delete drops every named key and ignores unknown ones."""
    backend = _backend(clock, stats)
    for key in ("ds:1", "md:1", "ds:2"):
        await backend.set(key, _entry(clock))
    await backend.delete("ds:1", "md:1", "nope")
    assert await backend.get("ds:1") is None
    assert await backend.get("md:1") is None
    assert await backend.get("ds:2") is not None


async def test_memory_clear_drops_all_without_counting_evictions(
    clock: FakeClock, stats: CacheStats
) -> None:
    """clear empties the backend and is not mistaken for evictions."""
    backend = _backend(clock, stats)
    for i in range(10):
        await backend.set(f"ds:{i}", _entry(clock))
    await backend.clear()
    assert backend.entry_count() == 0
    assert await backend.get("ds:3") is None
    assert stats.evictions == 0
    await backend.set("ds:3", _entry(clock))
    assert await backend.get("ds:3") is not None


async def test_memory_close_empties(clock: FakeClock, stats: CacheStats) -> None:
    """close releases the stored entries."""
    backend = _backend(clock, stats)
    await backend.set("ds:1", _entry(clock))
    await backend.close()
    assert backend.entry_count() == 0
