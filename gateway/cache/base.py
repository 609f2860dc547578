"""Cache entries, the pure freshness rules, the backend protocol and the counters."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored upstream answer.

    Args:
        status: 200 or 404; other statuses are never stored.
        content_type: the upstream ``Content-Type``, replayed as-is.
        body: the upstream body, written as-is on a hit (no decode/encode).
        stored_at: when the answer was stored, on a wall clock (``time.time``).
        ttl: fresh lifetime in seconds, counted from ``stored_at``.
    """

    status: int
    content_type: str
    body: bytes
    # Wall clock, not monotonic: a Redis backend shares entries across
    # processes and hosts, and monotonic clocks mean nothing outside one process.
    stored_at: float
    ttl: float


class Freshness(enum.Enum):
    """What an entry may be used for at a given moment."""

    FRESH = "fresh"
    STALE_REVALIDATE = "stale_revalidate"
    STALE_IF_ERROR = "stale_if_error"
    EXPIRED = "expired"


def classify(
    entry: Entry, now: float, *, stale_while_revalidate: float, stale_if_error: float
) -> Freshness:
    """Decide what ``entry`` may be used for at ``now``.

    Fresh strictly before ``stored_at + ttl``; after that, usable while a
    background refresh runs for ``stale_while_revalidate`` seconds, usable when
    the upstream fails for ``stale_if_error`` seconds (each window is half-open
    and counted from expiry), then expired.
    """
    overdue = now - entry.stored_at - entry.ttl
    if overdue < 0:
        return Freshness.FRESH
    if overdue < stale_while_revalidate:
        return Freshness.STALE_REVALIDATE
    if overdue < stale_if_error:
        return Freshness.STALE_IF_ERROR
    return Freshness.EXPIRED


def age(entry: Entry, now: float) -> int:
    """Whole seconds since the entry was stored; never negative (clock skew)."""
    return max(0, int(now - entry.stored_at))


def ttl_left(entry: Entry, now: float) -> int:
    """Whole seconds of freshness left; negative (at most -1) once not fresh.

    This is RFC 9211's ``ttl``: a stale answer is a hit with a negative ttl, so
    the exact expiry instant reports -1, never an ambiguous 0.
    """
    remaining = entry.stored_at + entry.ttl - now
    whole = math.floor(remaining)
    return whole if remaining > 0 else min(whole, -1)


class CacheBackend(Protocol):
    """Where entries live. Backends store and drop; they never judge freshness."""

    async def get(self, key: str) -> Entry | None:
        """Return the stored entry, fresh or not, or None."""

    async def set(self, key: str, entry: Entry, tags: tuple[str, ...] = ()) -> None:
        """Store ``entry`` under ``tags``, kept at most ``entry.ttl`` plus the backend's
        retention."""

    async def delete(self, *keys: str) -> None:
        """Drop these keys; unknown keys are ignored."""

    async def delete_tags(self, *tags: str) -> None:
        """Drop every entry stored under any of ``tags`` (SPEC §8.5's invalidation)."""

    async def clear(self) -> None:
        """Drop every entry this gateway stored."""

    async def close(self) -> None:
        """Release connections; the backend is not used afterwards."""

    def entry_count(self) -> int | None:
        """Number of entries held, or None when it cannot be known cheaply."""


@dataclass(slots=True)
class CacheStats:
    """Plain counters bumped on the hot path; a collector reads them at scrape time.

    ``hits``, ``misses``, ``stale``, ``bypass`` and ``errors`` partition the
    calls to ``CacheService.get`` by how they ended (``errors``: it raised).
    ``coalesced`` counts callers that joined an in-flight load, ``stores``
    entries written, ``evictions`` entries pushed out by the size bound (not
    expirations), ``backend_errors`` failed backend operations the service
    survived by treating them as misses.
    """

    hits: int = 0
    misses: int = 0
    stale: int = 0
    bypass: int = 0
    coalesced: int = 0
    evictions: int = 0
    stores: int = 0
    errors: int = 0
    backend_errors: int = 0
