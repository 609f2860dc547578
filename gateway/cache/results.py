"""What the cache service hands out: how an answer was produced, and the answer itself."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from gateway.cache.base import Entry, Freshness, age, classify, ttl_left


class CacheOutcome(enum.StrEnum):
    """How an answer was produced; the ``X-Cache`` value."""

    HIT = "HIT"
    MISS = "MISS"
    STALE = "STALE"
    BYPASS = "BYPASS"


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a loader returns: the upstream answer, whatever its status.

    ``store``: the loader's verdict; False keeps even a 200 out of the cache.
    ``ttl``: the fresh lifetime of this answer when it differs from the read's
    (a set service's root that answers its handshake text, not its list).
    """

    status: int
    content_type: str
    body: bytes
    store: bool = True
    ttl: float | None = None


class CacheResult(NamedTuple):
    """The answer for the handler and the facts for the cache headers.

    A NamedTuple: every cache hit makes one, and a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field) cost three times as much.

    Args:
        age: whole seconds since the answer was stored (0 when just loaded).
        ttl_left: whole seconds of freshness left; negative when stale.
        stored: the answer is (now) held by the cache.
    """

    status: int
    content_type: str
    body: bytes
    outcome: CacheOutcome
    age: int
    ttl_left: int
    stored: bool


Loader = Callable[[], Awaitable[Fetched]]
# A load's outcome: the answer, and the entry now stored for it (None: not stored).
Loaded = tuple[Fetched, Entry | None]


def from_entry(entry: Entry, outcome: CacheOutcome, now: float) -> CacheResult:
    """The result for an answer served from a stored ``entry`` at ``now``."""
    return CacheResult(
        entry.status,
        entry.content_type,
        entry.body,
        outcome,
        age(entry, now),
        ttl_left(entry, now),
        True,
    )


def as_loaded(entry: Entry | None, now: float) -> Loaded | None:
    """``entry`` as a load's outcome when it is fresh."""
    if entry is None:
        return None
    if classify(entry, now, stale_while_revalidate=0, stale_if_error=0) is not Freshness.FRESH:
        return None
    return Fetched(entry.status, entry.content_type, entry.body), entry
