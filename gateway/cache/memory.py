"""The in-process cache backend: LRUs bounded by entries and bytes, with expiry on read.

Answers and upstream 404s live in two LRUs with bounds of their own, and share
one byte budget in which 404s always go first: unknown ids, however many,
push out only other 404s, never a good entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus

from gateway.cache.base import CacheStats, Entry
from gateway.cache.lru import SizedLRU, entry_size


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
    """Entries in this process only, LRU-evicted beyond their bounds.

    An answer is dropped when read after ``ttl + retention``, or when it is the
    least recently used and room is needed. A 404 lives in its own LRU of
    ``max_not_found`` entries and is dropped once read after its ttl: it is
    never kept for stale use. Both count against ``max_bytes``, 404s first out.
    (cachetools' TLRUCache also purges expired entries on every insert, but its
    bookkeeping made each read four times dearer, on the path every hit takes.)

    Args:
        max_entries: the most answers held; the least recently used go first.
        retention: how long an answer is kept after its ttl, so it can still be
            served stale; give it ``max(stale_if_error, stale_while_revalidate)``.
        stats: the counters ``evictions`` is added to.
        clock: wall clock in seconds, the same one the service stamps entries with.
        max_not_found: the most upstream 404s held, apart from the answers.
        max_bytes: the most bytes held, answers and 404s together (see `entry_size`).
    """

    def __init__(
        self,
        *,
        max_entries: int,
        retention: float,
        stats: CacheStats,
        clock: Callable[[], float] = time.time,
        max_not_found: int = 1000,
        max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._max_entries = max_entries
        self._max_not_found = max_not_found
        self._max_bytes = max_bytes
        self._retention = retention
        self._stats = stats
        self._clock = clock
        self._cache, self._not_found = self._new_caches()

    def _new_caches(self) -> tuple[SizedLRU[Entry], SizedLRU[Entry]]:
        # One index for both (tags do not care for status), new with the caches it follows.
        self._index: _TagIndex = _TagIndex()
        answers = SizedLRU(
            max_entries=self._max_entries,
            max_bytes=self._max_bytes,
            sizeof=entry_size,
            evicted=self._evicted_answer,
        )
        missing = SizedLRU(
            max_entries=self._max_not_found,
            max_bytes=self._max_bytes,
            sizeof=entry_size,
            evicted=self._evicted_not_found,
        )
        return answers, missing

    def _evicted_answer(self, key: str, entry: Entry) -> None:
        # An entry past its retention that leaves this way was dead already: no eviction.
        if not self._expired(entry):
            self._stats.evictions += 1
        self._index.discard(key)

    def _evicted_not_found(self, key: str, entry: Entry) -> None:
        if not self._not_found_expired(entry):
            self._stats.evictions += 1
        self._index.discard(key)

    def _expired(self, entry: Entry) -> bool:
        return entry.stored_at + entry.ttl + self._retention <= self._clock()

    def _not_found_expired(self, entry: Entry) -> bool:
        return entry.stored_at + entry.ttl <= self._clock()

    async def get(self, key: str) -> Entry | None:
        """Return an answer within ttl + retention, or a 404 within its ttl, else None."""
        entry = self._cache.get(key)
        if entry is not None:
            if self._expired(entry):
                self._cache.pop(key)
                self._index.discard(key)
                return None
            return entry
        entry = self._not_found.get(key)
        if entry is not None and self._not_found_expired(entry):
            self._not_found.pop(key)
            self._index.discard(key)
            return None
        return entry

    async def set(self, key: str, entry: Entry, tags: tuple[str, ...] = ()) -> None:
        """Store ``entry`` under ``tags``: an answer for ttl + retention, a 404 for its
        ttl, in its own LRU (seconds counted from ``stored_at``).

        Beyond ``max_bytes``, 404s are pushed out first; a 404 never pushes out an
        answer, and an answer larger than ``max_bytes`` alone is not stored.
        """
        self._index.discard(key)
        if entry.status == HTTPStatus.NOT_FOUND:
            self._cache.pop(key)
            stored = self._not_found.put(key, entry)
            self._shed_not_found(self._max_bytes)
        else:
            self._not_found.pop(key)
            self._cache.pop(key)
            # Room for the answer is made from 404s first; the answers' own LRU then
            # pushes out answers only if the answers alone would exceed the bound.
            self._shed_not_found(self._max_bytes - entry_size(key, entry))
            stored = self._cache.put(key, entry)
        if stored:
            self._index.add(key, tags)

    async def delete(self, *keys: str) -> None:
        """Drop these keys."""
        for key in keys:
            self._cache.pop(key)
            self._not_found.pop(key)
            self._index.discard(key)

    async def delete_tags(self, *tags: str) -> None:
        """Drop every entry stored under any of ``tags``."""
        await self.delete(*self._index.keys(tags))

    async def clear(self) -> None:
        """Drop everything, without counting evictions."""
        self._cache, self._not_found = self._new_caches()

    async def close(self) -> None:
        """Drop everything; nothing else to release."""
        self._cache, self._not_found = self._new_caches()

    def _shed_not_found(self, limit: int) -> None:
        """Push out 404s, oldest first, until the cache holds at most ``limit`` bytes."""
        while self.byte_count() > limit:
            if not self._not_found.evict_oldest():
                return  # none left: answers are bounded by their own LRU

    def entry_count(self) -> int:
        """Entries held, 404s included; an expired one counts until it is read or pushed out."""
        return len(self._cache) + len(self._not_found)

    def byte_count(self) -> int:
        """Bytes held, as `entry_size` counts them."""
        return self._cache.nbytes + self._not_found.nbytes
