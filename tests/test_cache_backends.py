"""The core CacheService behaviours, held on every backend: memory and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis_fixtures import RedisServer
from test_cache_service import JSON, NOT_FOUND_TTL, STALE_IF_ERROR, TTL, FakeClock, FakeUpstream

from gateway.cache.base import CacheBackend, CacheStats
from gateway.cache.memory import MemoryBackend
from gateway.cache.redis import RedisBackend, connect
from gateway.cache.service import CacheOutcome, CacheResult, CacheService
from gateway.errors import UpstreamError

ServiceFactory = Callable[[], CacheService]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stats() -> CacheStats:
    return CacheStats()


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture(params=["memory", "redis"])
def make_backend(
    request: pytest.FixtureRequest, clock: FakeClock, stats: CacheStats
) -> Callable[[], CacheBackend]:
    """Backends of one kind; with Redis, all on one fresh prefix (as instances sharing it)."""
    if request.param == "memory":
        return lambda: MemoryBackend(
            max_entries=100, retention=STALE_IF_ERROR, stats=stats, clock=clock
        )
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix: str = request.getfixturevalue("redis_prefix")
    return lambda: RedisBackend(
        connect(server.url), prefix=prefix, retention=STALE_IF_ERROR, clock=clock
    )


@pytest.fixture
async def make_service(
    make_backend: Callable[[], CacheBackend], clock: FakeClock, stats: CacheStats
) -> AsyncIterator[ServiceFactory]:
    made: list[CacheService] = []

    def make() -> CacheService:
        service = CacheService(
            make_backend(),
            not_found_ttl=NOT_FOUND_TTL,
            stale_if_error=STALE_IF_ERROR,
            stale_while_revalidate=0,
            wait_timeout=5.0,
            stats=stats,
            clock=clock,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()


async def _until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while not condition():
        if loop.time() > give_up:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.001)


async def test_backend_miss_then_hit_with_age(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """A first read loads and stores; a later one is a HIT with its age and remaining ttl."""
    cache = make_service()
    first = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert first == CacheResult(200, JSON, b'{"v":1}', CacheOutcome.MISS, 0, 60, True)
    clock.advance(12.5)
    second = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert second == CacheResult(200, JSON, b'{"v":1}', CacheOutcome.HIT, 12, 47, True)
    assert upstream.calls == 1


async def test_backend_expires_after_ttl(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """An entry is served until its ttl and reloaded exactly at it."""
    cache = make_service()
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(TTL - 0.001)
    assert (await cache.get("md:1", ttl=TTL, load=upstream)).outcome is CacheOutcome.HIT
    clock.advance(0.001)
    result = await cache.get("md:1", ttl=TTL, load=upstream)
    assert (result.outcome, result.body, upstream.calls) == (CacheOutcome.MISS, b'{"v":2}', 2)


async def test_backend_not_found_cached_for_not_found_ttl(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    """An upstream 404 is stored for not_found_ttl, not for the route's ttl."""
    cache = make_service()
    upstream = FakeUpstream(status=404)
    first = await cache.get("ds:9", ttl=TTL, load=upstream)
    assert (first.status, first.stored, first.ttl_left) == (404, True, 5)
    clock.advance(NOT_FOUND_TTL - 0.5)
    assert (await cache.get("ds:9", ttl=TTL, load=upstream)).outcome is CacheOutcome.HIT
    clock.advance(0.5)
    assert (await cache.get("ds:9", ttl=TTL, load=upstream)).outcome is CacheOutcome.MISS
    assert upstream.calls == 2


async def test_backend_concurrent_misses_share_one_load(
    make_service: ServiceFactory, upstream: FakeUpstream, stats: CacheStats
) -> None:
    """A hundred concurrent readers of one missing key cause one load and one store."""
    cache = make_service()
    gate = upstream.hold()
    reads = [asyncio.create_task(cache.get("ds:1", ttl=TTL, load=upstream)) for _ in range(100)]
    await _until(lambda: upstream.calls == 1)
    gate.set()
    results = await asyncio.gather(*reads)
    assert upstream.calls == 1
    assert {(r.body, r.outcome, r.stored) for r in results} == {
        (b'{"v":1}', CacheOutcome.MISS, True)
    }
    assert stats.stores == 1


async def test_backend_stale_on_error_within_window(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """A failed reload within stale_if_error serves the old entry as STALE."""
    cache = make_service()
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(TTL + 10)
    upstream.error = UpstreamError()
    result = await cache.get("md:1", ttl=TTL, load=upstream)
    assert (result.outcome, result.body, result.ttl_left) == (CacheOutcome.STALE, b'{"v":1}', -10)


async def test_backend_invalidate_old_load_does_not_write_back(
    make_service: ServiceFactory, upstream: FakeUpstream
) -> None:
    """A load running across an invalidation answers its reader but is not stored."""
    cache = make_service()
    gate = upstream.hold()
    old = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream))
    await _until(lambda: upstream.calls == 1)
    await cache.invalidate("md:1", "ds:1")
    gate.set()
    assert (await old).stored is False
    upstream.gate = None
    after = await cache.get("md:1", ttl=TTL, load=upstream)
    assert (after.outcome, after.body) == (CacheOutcome.MISS, b'{"v":2}')


async def test_backend_invalidate_race_reader_after_gets_new_value(
    make_service: ServiceFactory,
) -> None:
    """A read after invalidation loads anew; the old load finishing later does not overwrite it."""
    cache = make_service()
    old_upstream, new_upstream = FakeUpstream(), FakeUpstream()
    old_gate, new_gate = old_upstream.hold(), new_upstream.hold()
    old = asyncio.create_task(cache.get("md:1", ttl=TTL, load=old_upstream))
    await _until(lambda: old_upstream.calls == 1)
    await cache.invalidate("md:1")
    new = asyncio.create_task(cache.get("md:1", ttl=TTL, load=new_upstream))
    await _until(lambda: new_upstream.calls == 1)
    new_gate.set()
    assert ((await new).body, (await new).stored) == (b'{"v":1}', True)
    old_upstream.status = 404
    old_gate.set()
    assert ((await old).status, (await old).stored) == (404, False)
    hit = await cache.get("md:1", ttl=TTL, load=old_upstream)
    assert (hit.outcome, hit.status) == (CacheOutcome.HIT, 200)


async def test_backend_clear_drops_entries_and_in_flight_loads(
    make_service: ServiceFactory, upstream: FakeUpstream
) -> None:
    """clear drops every entry and keeps running loads from writing back."""
    cache = make_service()
    await cache.get("ds:1", ttl=TTL, load=upstream)
    gate = upstream.hold()
    running = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream))
    await _until(lambda: upstream.calls == 2)
    await cache.clear()
    gate.set()
    assert (await running).stored is False
    upstream.gate = None
    for key in ("ds:1", "md:1"):
        assert (await cache.get(key, ttl=TTL, load=upstream)).outcome is CacheOutcome.MISS
