"""An LRU bounded by entries and by bytes, with a hook for what it pushes out.

The memory back-end and the near cache in front of Redis both keep one. A read
is a dict lookup and a move to the end of an ``OrderedDict`` (both C); the
byte accounting happens only when entries come and go.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from gateway.cache.base import Entry

V = TypeVar("V")

# What one entry costs besides its key, body and content type: the Entry object, the
# dict and OrderedDict slots, the size record (tracemalloc: ~190 bytes on CPython
# 3.11; rounded up, so max_bytes bounds what the process really spends).
ENTRY_OVERHEAD: Final = 256


def entry_size(key: str, entry: Entry) -> int:
    """Bytes an entry is counted for against ``cache.max_bytes``."""
    return len(key) + len(entry.body) + len(entry.content_type) + ENTRY_OVERHEAD


class SizedLRU(Generic[V]):
    """Values by key, least recently used first out, within ``max_entries`` and ``max_bytes``.

    Args:
        max_entries: the most values held.
        max_bytes: the most bytes held, as ``sizeof`` counts them; a value larger
            than this alone is never stored.
        sizeof: what one value costs.
        evicted: called with each key and value pushed out to make room (not
            with those deleted or replaced).
    """

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        sizeof: Callable[[str, V], int],
        evicted: Callable[[str, V], None],
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._sizeof = sizeof
        self._evicted = evicted
        self._values: OrderedDict[str, V] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str) -> V | None:
        """The value of ``key``, now the most recently used; None if absent."""
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> bool:
        """Store ``value``, pushing out the least recently used as needed.

        Returns:
            False when the value alone exceeds ``max_bytes`` (nothing stored; an
            older value of ``key`` is dropped, since it is no longer the answer).
        """
        size = self._sizeof(key, value)
        self.pop(key)
        if size > self._max_bytes:
            return False
        while self._values and (
            len(self._values) >= self._max_entries or self.nbytes + size > self._max_bytes
        ):
            self.evict_oldest()
        self._values[key] = value
        self._sizes[key] = size
        self.nbytes += size
        return True

    def pop(self, key: str) -> V | None:
        """Drop ``key``; its value, or None if absent."""
        value = self._values.pop(key, None)
        if value is not None:
            self.nbytes -= self._sizes.pop(key)
        return value

    def evict_oldest(self) -> bool:
        """Push out the least recently used value; False when empty."""
        if not self._values:
            return False
        key, value = self._values.popitem(last=False)
        self.nbytes -= self._sizes.pop(key)
        self._evicted(key, value)
        return True

    def keys(self) -> list[str]:
        """The keys, least recently used first."""
        return list(self._values)
