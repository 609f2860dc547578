"""Response headers that tell a client how the cache answered.

``X-Cache`` (HIT, MISS, STALE, BYPASS), ``Age`` on answers served from the
cache, and the RFC 9211 ``Cache-Status`` with the same facts. Constant parts
are built once at import; a request only formats the numbers.
"""

from __future__ import annotations

from typing import Final, assert_never

from aiohttp import hdrs

from gateway.cache.results import CacheOutcome, CacheResult

X_CACHE: Final = "X-Cache"
CACHE_NAME: Final = "olconnect-gateway"

_HIT_PREFIX: Final = f"{CACHE_NAME}; hit; ttl="
_MISS: Final = f"{CACHE_NAME}; fwd=miss"
_MISS_STORED: Final = f"{_MISS}; stored"
_BYPASS: Final = f"{CACHE_NAME}; fwd=request"
_BYPASS_STORED: Final = f"{_BYPASS}; stored"


def cache_headers(result: CacheResult) -> dict[str, str]:
    """Return the cache headers for ``result``; a new dict the caller may change."""
    outcome = result.outcome
    if outcome is CacheOutcome.HIT or outcome is CacheOutcome.STALE:
        # ttl_left is negative for a stale answer: RFC 9211's mark of staleness.
        return {
            X_CACHE: outcome.value,
            hdrs.AGE: str(result.age),
            hdrs.CACHE_STATUS: _HIT_PREFIX + str(result.ttl_left),
        }
    if outcome is CacheOutcome.MISS:
        return {
            X_CACHE: "MISS",
            hdrs.CACHE_STATUS: _MISS_STORED if result.stored else _MISS,
        }
    if outcome is CacheOutcome.BYPASS:
        return {
            X_CACHE: "BYPASS",
            hdrs.CACHE_STATUS: _BYPASS_STORED if result.stored else _BYPASS,
        }
    assert_never(outcome)
