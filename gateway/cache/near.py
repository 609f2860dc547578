"""The near cache: answers read from a shared back-end, kept in this process for a moment.

A hit on Redis costs a round trip and a decode; most of a busy gateway's hits
are for a few hot keys. The near cache keeps each answer it saw for at most
``cache.near_ttl`` seconds, so a write made by another process is seen here
within that bound even if its invalidation message never arrives.

Every invalidation, local or announced by another process, moves `version`.
A copy is kept only if the version has not moved since the read or load that
produced it began: a read in flight during a write never puts the old answer
back (SPEC §8.5), in this process or from the shared back-end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from http import HTTPStatus

from gateway.cache.base import Entry
from gateway.cache.lru import SizedLRU, entry_size


def _near_size(key: str, held: tuple[Entry, float]) -> int:
    return entry_size(key, held[0])


def _no_count(_key: str, _held: tuple[Entry, float]) -> None:
    """Near copies pushed out are not cache evictions: the shared back-end still holds them."""


class NearCache:
    """Copies of shared entries, each dropped ``ttl`` seconds after it was read.

    Args:
        ttl: the longest a copy is used, counted from when its read began.
        max_entries: the most copies held; the least recently used go first.
        max_bytes: the most bytes held (`entry_size`).
        timer: monotonic seconds.
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        max_bytes: int,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self.now = timer
        self.version = 0
        self._copies = self._new()

    def _new(self) -> SizedLRU[tuple[Entry, float]]:
        return SizedLRU(
            max_entries=self._max_entries,
            max_bytes=self._max_bytes,
            sizeof=_near_size,
            evicted=_no_count,
        )

    def get(self, key: str) -> Entry | None:
        """The copy of ``key`` if it is younger than the ttl."""
        held = self._copies.get(key)
        if held is None:
            return None
        if self.now() >= held[1]:
            self._copies.pop(key)
            return None
        return held[0]

    def put(self, key: str, entry: Entry, *, since: float, version: int) -> None:
        """Keep ``entry`` until ``since + ttl``, unless an invalidation came after ``version``.

        Args:
            since: when the read or load that produced ``entry`` began (`now`).
            version: `version` when it began.
        """
        # 404s stay in the shared back-end only: unknown ids must not crowd out answers here.
        if version != self.version or entry.status == HTTPStatus.NOT_FOUND:
            return
        deadline = since + self._ttl
        if deadline > self.now():
            self._copies.put(key, (entry, deadline))

    def drop(self, keys: Iterable[str]) -> None:
        """Forget ``keys``; reads and loads already running keep nothing."""
        self.version += 1
        for key in keys:
            self._copies.pop(key)

    def fence(self) -> None:
        """Keep nothing from reads and loads already running (their keys are not known yet)."""
        self.version += 1

    def clear(self) -> None:
        """Forget every copy; reads and loads already running keep nothing."""
        self.version += 1
        self._copies = self._new()

    def __len__(self) -> int:
        return len(self._copies)

    @property
    def nbytes(self) -> int:
        """Bytes held (`entry_size`)."""
        return self._copies.nbytes
