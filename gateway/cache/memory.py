"""The in-process cache backend: a size-bounded LRU (cachetools) with expiry on read."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import LRUCache

from gateway.cache.base import CacheStats, Entry


class _CountingLRU(LRUCache[str, Entry]):
    """An LRUCache that counts the live entries it pushes out to make room.

    cachetools calls ``popitem`` only when an insert needs room; an entry past
    its retention that leaves this way was dead already, so it is no eviction.
    """

    def __init__(
        self,
        *,
        maxsize: int,
        expired: Callable[[Entry], bool],
        stats: CacheStats,
        evicted: Callable[[str], None],
    ) -> None:
        super().__init__(maxsize)
        self._expired = expired
        self._stats = stats
        self._evicted = evicted

    def popitem(self) -> tuple[str, Entry]:
        key, entry = super().popitem()
        if not self._expired(entry):
            self._stats.evictions += 1
        self._evicted(key)
        return key, entry


class _TagIndex:
    """Which keys are stored under which tag, kept in step with the entries."""

    def __init__(self) -> None:
        self._keys: dict[str, set[str]] = {}
        self._tags: dict[str, tuple[str, ...]] = {}

    def add(self, key: str, tags: tuple[str, ...]) -> None:
        self.discard(key)
        if tags:
            self._tags[key] = tags
            for tag in tags:
                self._keys.setdefault(tag, set()).add(key)

    def discard(self, key: str) -> None:
        for tag in self._tags.pop(key, ()):
            keys = self._keys.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys[tag]

    def keys(self, tags: tuple[str, ...]) -> set[str]:
        return set().union(*(self._keys.get(tag, ()) for tag in tags))


class MemoryBackend:
    """Entries in this process only, LRU-evicted beyond ``max_entries``.

    An entry is dropped when read after ``ttl + retention``, or when it is the
    least recently used and room is needed. (cachetools' TLRUCache also purges
    expired entries on every insert, but its bookkeeping made each read four
    times dearer: 1.15 µs against 0.27 µs, on the path every cache hit takes.)

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
        self._index = _TagIndex()
        self._cache = self._new_cache()

    def _new_cache(self) -> _CountingLRU:
        self._index = _TagIndex()
        return _CountingLRU(
            maxsize=self._max_entries,
            expired=self._expired,
            stats=self._stats,
            evicted=self._index.discard,
        )

    def _expired(self, entry: Entry) -> bool:
        return entry.stored_at + entry.ttl + self._retention <= self._clock()

    async def get(self, key: str) -> Entry | None:
        """Return the entry while it is within ttl + retention, else None."""
        entry = self._cache.get(key)
        if entry is not None and self._expired(entry):
            del self._cache[key]
            self._index.discard(key)
            return None
        return entry

    async def set(self, key: str, entry: Entry, tags: tuple[str, ...] = ()) -> None:
        """Store ``entry`` under ``tags`` for ``entry.ttl + retention`` seconds from its
        ``stored_at``."""
        self._cache[key] = entry
        self._index.add(key, tags)

    async def delete(self, *keys: str) -> None:
        """Drop these keys."""
        for key in keys:
            self._cache.pop(key, None)
            self._index.discard(key)

    async def delete_tags(self, *tags: str) -> None:
        """Drop every entry stored under any of ``tags``."""
        await self.delete(*self._index.keys(tags))

    async def clear(self) -> None:
        """Drop everything."""
        # A fresh cache, not LRUCache.clear(): that goes through popitem(), which
        # would count every dropped entry as an eviction.
        self._cache = self._new_cache()

    async def close(self) -> None:
        """Drop everything; nothing else to release."""
        self._cache = self._new_cache()

    def entry_count(self) -> int:
        """Entries held; an expired one counts until it is read or pushed out."""
        return len(self._cache)
