"""Negative entries (upstream 404s) cannot push out good ones and are never kept stale:
their own bound in memory, ttl-only expiry in Redis, short-lived invalidation fences."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from conftest import WALL_START, FakeClock, MakeGateway, key_header
from redis.asyncio import Redis
from redis_fixtures import RedisServer
from test_cache_service import FakeUpstream

from gateway.cache import CacheOutcome, CacheService
from gateway.cache.base import CacheBackend, CacheStats, Entry
from gateway.cache.memory import MemoryBackend
from gateway.cache.redis.backend import MIN_FENCE_MS, RedisBackend, connect
from gateway.errors import UpstreamError

SEGMENTS = "/rest/serverengine/entity/jobsegments"
JSON = "application/json"
NOT_FOUND_TTL = 5.0
RETENTION = 300.0


@pytest.fixture
def clock() -> FakeClock:
    """A wall clock (entries are stamped with one) that moves only when told."""
    return FakeClock(WALL_START)


def _answer(clock: FakeClock, ttl: float = 60) -> Entry:
    return Entry(200, JSON, b'{"identifiers":[1]}', clock(), ttl)


def _missing(clock: FakeClock) -> Entry:
    return Entry(404, JSON, b'{"error":{}}', clock(), NOT_FOUND_TTL)


def _memory(clock: FakeClock, stats: CacheStats, **bounds: int) -> MemoryBackend:
    return MemoryBackend(
        max_entries=bounds.get("max_entries", 10),
        max_not_found=bounds.get("max_not_found", 5),
        retention=RETENTION,
        stats=stats,
        clock=clock,
    )


async def test_memory_not_found_flood_leaves_answers_alone(clock: FakeClock) -> None:
    """A hundred 404s against max_not_found=5 push out only 404s: every answer stays."""
    stats = CacheStats()
    backend = _memory(clock, stats)
    for i in range(10):
        await backend.set(f"ds:{i}", _answer(clock))
    for i in range(1000, 1100):
        await backend.set(f"ds:{i}", _missing(clock))
    assert [await backend.get(f"ds:{i}") is not None for i in range(10)] == [True] * 10
    assert backend.entry_count() == 15
    assert stats.evictions == 95
    assert await backend.get("ds:1000") is None
    assert (await backend.get("ds:1099") or _answer(clock)).status == 404


async def test_memory_not_found_expires_after_its_ttl_without_retention(clock: FakeClock) -> None:
    """A 404 is gone at its ttl; an answer of the same ttl is kept for stale use."""
    backend = _memory(clock, CacheStats())
    await backend.set("ds:1", _missing(clock))
    await backend.set("ds:2", _answer(clock, ttl=NOT_FOUND_TTL))
    clock.advance(NOT_FOUND_TTL)
    assert await backend.get("ds:1") is None
    assert await backend.get("ds:2") is not None
    assert backend.entry_count() == 1


async def test_memory_status_change_moves_the_key_between_bounds(clock: FakeClock) -> None:
    """A key that turns from 404 to an answer (or back) is held once, in the right LRU."""
    backend = _memory(clock, CacheStats())
    await backend.set("ds:1", _missing(clock))
    await backend.set("ds:1", _answer(clock))
    assert backend.entry_count() == 1
    assert (await backend.get("ds:1") or _missing(clock)).status == 200
    await backend.set("ds:1", _missing(clock))
    assert backend.entry_count() == 1
    assert (await backend.get("ds:1") or _answer(clock)).status == 404
    await backend.set("ds:2", _answer(clock))
    await backend.delete("ds:1")
    assert backend.entry_count() == 1
    await backend.clear()
    assert backend.entry_count() == 0


@pytest.fixture(params=["memory", "redis"])
async def make_cache(
    request: pytest.FixtureRequest, clock: FakeClock
) -> AsyncIterator[Callable[..., CacheService]]:
    """CacheServices with stale windows, on either backend."""
    made: list[CacheService] = []

    def make(
        *, stale_if_error: float = RETENTION, stale_while_revalidate: float = 0
    ) -> CacheService:
        backend: CacheBackend
        if request.param == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            prefix: str = request.getfixturevalue("redis_prefix")
            backend = RedisBackend(
                connect(server.url), prefix=prefix, retention=RETENTION, clock=clock
            )
        else:
            backend = _memory(clock, CacheStats())
        service = CacheService(
            backend,
            not_found_ttl=NOT_FOUND_TTL,
            stale_if_error=stale_if_error,
            stale_while_revalidate=stale_while_revalidate,
            wait_timeout=5,
            stats=CacheStats(),
            clock=clock,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()


async def test_service_never_serves_a_stale_404_when_upstream_fails(
    make_cache: Callable[..., CacheService], clock: FakeClock
) -> None:
    """Past not_found, a failing upstream is the client's error, not an old 404."""
    cache = make_cache()
    upstream = FakeUpstream(status=404)
    assert (await cache.get("ds:9", ttl=60, load=upstream)).status == 404
    clock.advance(NOT_FOUND_TTL + 1)
    upstream.error = UpstreamError()
    with pytest.raises(UpstreamError):
        await cache.get("ds:9", ttl=60, load=upstream)


async def test_service_never_revalidates_a_404_in_the_background(
    make_cache: Callable[..., CacheService], clock: FakeClock
) -> None:
    """stale-while-revalidate does not apply to a 404: past its ttl the read waits for a load."""
    cache = make_cache(stale_while_revalidate=60)
    upstream = FakeUpstream(status=404)
    await cache.get("ds:9", ttl=60, load=upstream)
    clock.advance(NOT_FOUND_TTL + 1)
    upstream.status = 200
    result = await cache.get("ds:9", ttl=60, load=upstream)
    assert (result.status, result.outcome) == (200, CacheOutcome.MISS)


# --- Redis: expiry of 404s, fence lifetime ------------------------------------------------------


@pytest.fixture
async def redis_backend(
    redis_server: RedisServer, redis_prefix: str, clock: FakeClock
) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(
        connect(redis_server.url), prefix=redis_prefix, retention=RETENTION, max_wait=5, clock=clock
    )
    yield backend
    await backend.close()


async def _pttl(server: RedisServer, name: str) -> int:
    async with Redis.from_url(server.url) as client:
        return int(await client.pttl(name))


async def test_redis_not_found_expires_after_not_found_only(
    redis_backend: RedisBackend, redis_server: RedisServer, redis_prefix: str, clock: FakeClock
) -> None:
    """A 404 stored directly or through a lease lives not_found, not not_found + retention."""
    await redis_backend.set("ds:1", _missing(clock))
    lease = await redis_backend.lease("ds:2")
    assert await lease.store(_missing(clock))
    for key in ("ds:1", "ds:2"):
        assert 0 < await _pttl(redis_server, f"{redis_prefix}e:{key}") <= NOT_FOUND_TTL * 1000


async def test_redis_invalidation_fence_lives_as_long_as_a_load_not_an_hour(
    redis_backend: RedisBackend, redis_server: RedisServer, redis_prefix: str
) -> None:
    """A PUT to a missing id leaves its fence key for a load's bound (from upstream.timeout)."""
    await redis_backend.delete("md:424242")
    pttl = await _pttl(redis_server, f"{redis_prefix}g:md:424242")
    assert redis_backend.fence_ttl_ms == max(MIN_FENCE_MS, 10 * 5 * 1000)
    assert 0 < pttl <= redis_backend.fence_ttl_ms
    assert redis_backend.fence_ttl_ms < 3_600_000


# --- through the gateway ------------------------------------------------------------------------


async def test_gateway_unknown_ids_do_not_evict_cached_segments(make_gateway: MakeGateway) -> None:
    """A read client asking for 300 unknown ids leaves the 20 cached segments as HITs."""
    gateway = await make_gateway(cache={"max_entries": 40, "max_not_found": 10})

    async def read(segment: int) -> tuple[int, str]:
        async with gateway.get(f"{SEGMENTS}/{segment}", headers=key_header()) as response:
            await response.read()
            return response.status, response.headers.get("X-Cache", "")

    assert {await read(i) for i in range(1, 21)} == {(200, "MISS")}
    assert {await read(i) for i in range(100_001, 100_301)} == {(404, "MISS")}
    outcomes: set[Any] = {await read(i) for i in range(1, 21)}
    assert outcomes == {(200, "HIT")}


async def test_redis_load_slower_than_a_fence_stores_nothing(
    redis_server: RedisServer, redis_prefix: str, clock: FakeClock
) -> None:
    """A lease whose load outlived the fences' lifetime may have missed an invalidation
    whose fence expired meanwhile: it writes nothing and frees the lock."""
    timer = FakeClock()
    backend = RedisBackend(
        connect(redis_server.url),
        prefix=redis_prefix,
        retention=0,
        max_wait=5,
        clock=clock,
        timer=timer,
    )
    try:
        lease = await backend.lease("ds:1")
        assert lease.held
        timer.advance(backend.fence_ttl_ms / 1000)
        assert not await lease.store(_answer(clock))
        assert await backend.get("ds:1") is None
        again = await backend.lease("ds:1")
        assert again.held  # the lock was freed
        await again.release()
    finally:
        await backend.close()
