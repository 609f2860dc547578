"""Per-client token buckets: `rate_limit` requests/second, bursts of twice that (at least 1).

A refusal says when to come back: ``Retry-After`` and the ``RateLimit-Policy``
and ``RateLimit`` fields of the IETF httpapi draft (draft-ietf-httpapi-ratelimit-
headers, Structured Fields: a quoted policy name with ``q`` quota and ``w``
window, and ``r`` remaining and ``t`` seconds until quota comes back).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

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


def refusal_headers(policy: str, quota: int, window: int, wait: float) -> dict[str, str]:
    """The headers of a 429: come back in `wait` seconds, under `quota` per `window` s.

    Args:
        policy: the policy's name (``default``: a client's rate_limit; ``login``).
        quota, window: the policy: `quota` requests per `window` seconds.
        wait: seconds until a request may succeed.
    """
    after = retry_after(wait)
    return {
        "Retry-After": after,
        "RateLimit-Policy": f'"{policy}";q={quota};w={window}',
        "RateLimit": f'"{policy}";r=0;t={after}',
    }


def rate_policy(rate: float) -> tuple[int, int]:
    """A `rate_limit` (requests/second) as whole requests per whole seconds: 0.5 → (1, 2)."""
    fraction = Fraction(rate).limit_denominator(3600)
    if fraction.numerator == 0:  # slower than one an hour: one per its period
        return 1, max(1, round(1 / rate))
    return fraction.numerator, fraction.denominator
