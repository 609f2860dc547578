"""Per-client token buckets: `rate_limit` requests/second, bursts of twice that (at least 1)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

BURST_FACTOR = 2.0


@dataclass(slots=True)
class _Bucket:
    rate: float
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client name.

    Args:
        clock: monotonic seconds; injected so tests advance time instead of sleeping.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, client: str, rate: float) -> float:
        """Take one token for `client`; 0 when allowed, else the seconds until one is free."""
        now = self._clock()
        # At least one whole token: a limit below 0.5/s must still let a request through.
        capacity = max(1.0, rate * BURST_FACTOR)
        bucket = self._buckets.get(client)
        if bucket is None or bucket.rate != rate:  # new client, or its limit was reloaded
            bucket = self._buckets[client] = _Bucket(rate, capacity, now)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate

    async def take(self, client: str, rate: float) -> float:
        """`acquire` for the rate-limit middleware, which also takes a shared (Redis) limiter."""
        return self.acquire(client, rate)

    def forget_others(self, keep: set[str]) -> None:
        """Drop the buckets of clients that no longer exist (after a reload)."""
        for name in self._buckets.keys() - keep:
            del self._buckets[name]


def retry_after(seconds: float) -> str:
    """Retry-After in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
