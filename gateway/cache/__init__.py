"""The response cache: pure freshness rules, backends, single-flight and the service."""

from gateway.cache.base import (
    CacheBackend,
    CacheStats,
    Entry,
    Freshness,
    age,
    classify,
    ttl_left,
)
from gateway.cache.coalesce import SingleFlight
from gateway.cache.headers import cache_headers
from gateway.cache.memory import MemoryBackend
from gateway.cache.results import CacheOutcome, CacheResult, Fetched, Loader
from gateway.cache.service import CacheService

__all__ = [
    "CacheBackend",
    "CacheOutcome",
    "CacheResult",
    "CacheService",
    "CacheStats",
    "Entry",
    "Fetched",
    "Freshness",
    "Loader",
    "MemoryBackend",
    "SingleFlight",
    "age",
    "cache_headers",
    "classify",
    "ttl_left",
]
