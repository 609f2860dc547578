"""The in-process cache backend: a size-bounded, time-aware LRU from cachetools."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TLRUCache

from gateway.cache.base import CacheStats, Entry


class _CountingTLRU(TLRUCache[str, Entry]):
    """A TLRUCache that counts size-bound evictions.

    cachetools calls ``popitem`` only when an insert needs room, after it has
    purged expired items, so every call here is a true LRU eviction.
    """

    def __init__(
        self,
        *,
        maxsize: int,
        ttu: Callable[[str, Entry, float], float],
        timer: Callable[[], float],
        stats: CacheStats,
    ) -> None:
        super().__init__(maxsize, ttu, timer)
        self._stats = stats

    def popitem(self) -> tuple[str, Entry]:
        item = super().popitem()
        self._stats.evictions += 1
        return item


class MemoryBackend:
    """Entries in this process only, LRU-evicted beyond ``max_entries``.

    Args:
        max_entries: the most entries held; the least recently used go first.
        retention: how long an entry is kept after its ttl, so it can still be
            served stale; give it ``max(stale_if_error, stale_while_revalidate)``.
        stats: the counters ``evictions`` is added to.
        clock: wall clock in seconds, the same one the service stamps entries with.
    """

    def __init__(
        self,
        *,
        max_entries: int,
        retention: float,
        stats: CacheStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_entries = max_entries
        self._retention = retention
        self._stats = stats
        self._clock = clock
        self._cache = self._new_cache()

    def _new_cache(self) -> _CountingTLRU:
        return _CountingTLRU(
            maxsize=self._max_entries, ttu=self._ttu, timer=self._clock, stats=self._stats
        )

    def _ttu(self, _key: str, entry: Entry, now: float) -> float:
        return now + entry.ttl + self._retention

    async def get(self, key: str) -> Entry | None:
        """Return the entry while it is within ttl + retention, else None."""
        return self._cache.get(key)

    async def set(self, key: str, entry: Entry) -> None:
        """Store ``entry`` for ``entry.ttl + retention`` seconds from now."""
        self._cache[key] = entry

    async def delete(self, *keys: str) -> None:
        """Drop these keys."""
        for key in keys:
            self._cache.pop(key, None)

    async def clear(self) -> None:
        """Drop everything."""
        # A fresh cache, not TLRUCache.clear(): older cachetools clear through
        # popitem(), which would count every dropped entry as an eviction.
        self._cache = self._new_cache()

    async def close(self) -> None:
        """Drop everything; nothing else to release."""
        self._cache = self._new_cache()

    def entry_count(self) -> int:
        """Entries held, not counting expired ones."""
        return len(self._cache)
