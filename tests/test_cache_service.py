"""CacheService on every backend (memory and a real Redis): outcomes, coalescing, stale,
invalidation, headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from conftest import WALL_START, FakeClock, until
from redis_fixtures import RedisServer
from structlog.testing import capture_logs

from gateway.cache import CacheOutcome, CacheResult, CacheService, Fetched
from gateway.cache.base import CacheBackend, CacheStats, Entry
from gateway.cache.headers import cache_headers
from gateway.cache.memory import MemoryBackend
from gateway.cache.redis.backend import RedisBackend, connect
from gateway.errors import UpstreamAuthError, UpstreamError, UpstreamTimeout

TTL = 60.0
NOT_FOUND_TTL = 5.0
STALE_IF_ERROR = 300.0
JSON = "application/json"


class FakeUpstream:
    """A loader that counts calls, answers v1, v2, ... and can be gated or made to fail."""

    def __init__(self, status: int = 200) -> None:
        self.calls = 0
        self.status = status
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> Fetched:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return Fetched(self.status, JSON, b'{"v":%d}' % self.calls)

    def hold(self) -> asyncio.Event:
        self.gate = asyncio.Event()
        return self.gate


class SlowWriteBackend(MemoryBackend):
    """A backend whose writes wait for a gate, as a write over the network would."""

    gate: asyncio.Event

    async def set(self, key: str, entry: Entry, tags: tuple[str, ...] = ()) -> None:
        await self.gate.wait()
        await super().set(key, entry, tags)


class BrokenBackend(MemoryBackend):
    """A backend whose every read and write fails, as an unreachable Redis would."""

    async def get(self, key: str) -> Entry | None:
        raise ConnectionError(key)

    async def set(self, key: str, entry: Entry, tags: tuple[str, ...] = ()) -> None:
        raise ConnectionError(key)


@pytest.fixture
def clock() -> FakeClock:
    """A wall clock (entries are stamped with one) that moves only when told."""
    return FakeClock(WALL_START)


@pytest.fixture
def stats() -> CacheStats:
    return CacheStats()


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


ServiceFactory = Callable[..., CacheService]


@pytest.fixture(params=["memory", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    """Which backend the service stores into by default."""
    return str(request.param)


@pytest.fixture
async def make_service(
    request: pytest.FixtureRequest, backend_kind: str, clock: FakeClock, stats: CacheStats
) -> AsyncIterator[ServiceFactory]:
    made: list[CacheService] = []

    def make(
        *,
        stale_if_error: float = STALE_IF_ERROR,
        stale_while_revalidate: float = 0.0,
        wait_timeout: float = 5.0,
        backend: CacheBackend | None = None,
        retention: float | None = None,
    ) -> CacheService:
        if retention is None:
            retention = max(stale_if_error, stale_while_revalidate)
        if backend is None and backend_kind == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            prefix: str = request.getfixturevalue("redis_prefix")
            backend = RedisBackend(
                connect(server.url), prefix=prefix, retention=retention, clock=clock
            )
        elif backend is None:
            backend = MemoryBackend(max_entries=100, retention=retention, stats=stats, clock=clock)
        service = CacheService(
            backend,
            not_found_ttl=NOT_FOUND_TTL,
            stale_if_error=stale_if_error,
            stale_while_revalidate=stale_while_revalidate,
            wait_timeout=wait_timeout,
            stats=stats,
            clock=clock,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()


async def test_service_miss_then_hit_with_age(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock, stats: CacheStats
) -> None:
    """A first read loads and stores; a later one is a HIT with its age and remaining ttl."""
    cache = make_service()
    first = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert first == CacheResult(200, JSON, b'{"v":1}', CacheOutcome.MISS, 0, 60, True)
    clock.advance(12.5)
    second = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert second == CacheResult(200, JSON, b'{"v":1}', CacheOutcome.HIT, 12, 47, True)
    assert upstream.calls == 1
    assert (stats.misses, stats.hits, stats.stores) == (1, 1, 1)


async def test_service_expires_after_ttl(
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


async def test_service_not_found_cached_for_not_found_ttl(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    """An upstream 404 is stored for not_found_ttl, not for the route's ttl."""
    cache = make_service()
    upstream = FakeUpstream(status=404)
    first = await cache.get("ds:9", ttl=TTL, load=upstream)
    assert (first.status, first.stored, first.ttl_left) == (404, True, 5)
    clock.advance(NOT_FOUND_TTL - 0.5)
    hit = await cache.get("ds:9", ttl=TTL, load=upstream)
    assert (hit.status, hit.outcome) == (404, CacheOutcome.HIT)
    clock.advance(0.5)
    assert (await cache.get("ds:9", ttl=TTL, load=upstream)).outcome is CacheOutcome.MISS
    assert upstream.calls == 2


async def test_service_concurrent_misses_share_one_load(
    make_service: ServiceFactory, upstream: FakeUpstream, stats: CacheStats
) -> None:
    """A hundred concurrent readers of one missing key cause one load and one store."""
    cache = make_service()
    gate = upstream.hold()
    reads = [asyncio.create_task(cache.get("ds:1", ttl=TTL, load=upstream)) for _ in range(100)]
    await until(lambda: upstream.calls == 1)
    # Every reader must have missed before the load ends: on Redis, readers queue for one
    # of the client's pooled connections, and one that looked after the store would HIT.
    await until(lambda: stats.coalesced == 99)
    gate.set()
    results = await asyncio.gather(*reads)
    assert upstream.calls == 1
    assert {(r.status, r.body, r.outcome, r.stored) for r in results} == {
        (200, b'{"v":1}', CacheOutcome.MISS, True)
    }
    assert (stats.coalesced, stats.misses, stats.stores) == (99, 100, 1)


async def test_service_uncacheable_status_shared_not_stored(
    make_service: ServiceFactory,
) -> None:
    """A status other than 200/404 reaches every waiter from one load and is not stored."""
    cache = make_service()
    upstream = FakeUpstream(status=400)
    gate = upstream.hold()
    reads = [asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream)) for _ in range(20)]
    await until(lambda: upstream.calls == 1)
    gate.set()
    results = await asyncio.gather(*reads)
    assert {(r.status, r.body, r.stored) for r in results} == {(400, b'{"v":1}', False)}
    again = await cache.get("md:1", ttl=TTL, load=upstream)
    assert (again.outcome, upstream.calls) == (CacheOutcome.MISS, 2)


@pytest.mark.parametrize("error", [UpstreamError(), UpstreamAuthError(), UpstreamTimeout()])
async def test_service_stale_on_error_within_window(
    make_service: ServiceFactory,
    upstream: FakeUpstream,
    clock: FakeClock,
    stats: CacheStats,
    error: Exception,
) -> None:
    """A failed reload within stale_if_error serves the old entry as STALE and logs it."""
    cache = make_service()
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(TTL + 10)
    upstream.error = error
    with capture_logs() as logs:
        result = await cache.get("md:1", ttl=TTL, load=upstream)
    assert result == CacheResult(200, JSON, b'{"v":1}', CacheOutcome.STALE, 70, -10, True)
    assert stats.stale == 1
    assert logs == [
        {
            "event": "cache_stale_served",
            "key": "md:1",
            "error": type(error).__name__,
            "suppressed": 0,
            "log_level": "warning",
        }
    ]


async def test_service_error_after_window_raises(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock, stats: CacheStats
) -> None:
    """A failed reload past stale_if_error raises, even if the backend still holds the entry."""
    cache = make_service(retention=10 * STALE_IF_ERROR)
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(TTL + STALE_IF_ERROR)
    upstream.error = UpstreamError()
    with pytest.raises(UpstreamError):
        await cache.get("md:1", ttl=TTL, load=upstream)
    assert (stats.errors, stats.stale) == (1, 0)


async def test_service_window_judged_when_the_load_fails(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """An entry usable when the reload began but past the window when it failed is not served."""
    cache = make_service(retention=10 * STALE_IF_ERROR)
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(TTL + STALE_IF_ERROR - 1)
    upstream.error = UpstreamError()
    gate = upstream.hold()
    read = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream))
    await until(lambda: upstream.calls == 2)
    clock.advance(1)
    gate.set()
    with pytest.raises(UpstreamError):
        await read


async def test_service_failure_not_stored_next_read_retries(
    make_service: ServiceFactory, upstream: FakeUpstream
) -> None:
    """A failed load is not remembered: the next read calls the upstream again."""
    cache = make_service()
    upstream.error = UpstreamTimeout()
    with pytest.raises(UpstreamTimeout):
        await cache.get("ds:1", ttl=TTL, load=upstream)
    upstream.error = None
    result = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert (result.outcome, result.body, upstream.calls) == (CacheOutcome.MISS, b'{"v":2}', 2)


async def test_service_unexpected_error_propagates_despite_stale_entry(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """Only upstream failures fall back to stale; other exceptions propagate."""
    cache = make_service()
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(TTL + 1)
    upstream.error = RuntimeError("bug")
    with pytest.raises(RuntimeError):
        await cache.get("md:1", ttl=TTL, load=upstream)


async def test_service_wait_timeout_falls_back_to_stale(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """A reader that stops waiting for a slow reload gets the stale entry."""
    cache = make_service(wait_timeout=0.2)
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(TTL + 1)
    gate = upstream.hold()
    with capture_logs():
        result = await cache.get("md:1", ttl=TTL, load=upstream)
    assert (result.outcome, result.body) == (CacheOutcome.STALE, b'{"v":1}')
    gate.set()


async def test_service_swr_returns_at_once_and_refreshes_once(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock, stats: CacheStats
) -> None:
    """Within stale_while_revalidate every reader gets STALE at once and one refresh runs."""
    cache = make_service(stale_while_revalidate=30.0)
    await cache.get("ds:1", ttl=TTL, load=upstream)
    clock.advance(TTL + 5)
    gate = upstream.hold()
    results = await asyncio.gather(*(cache.get("ds:1", ttl=TTL, load=upstream) for _ in range(10)))
    assert {(r.outcome, r.body, r.ttl_left) for r in results} == {
        (CacheOutcome.STALE, b'{"v":1}', -5)
    }
    await until(lambda: upstream.calls == 2)
    gate.set()
    await until(lambda: stats.stores == 2)
    fresh = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert (fresh.outcome, fresh.body, upstream.calls) == (CacheOutcome.HIT, b'{"v":2}', 2)


async def test_service_swr_refresh_failure_is_logged(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """A failed background refresh is logged, not raised, and the entry stays usable."""
    cache = make_service(stale_while_revalidate=30.0)
    await cache.get("ds:1", ttl=TTL, load=upstream)
    clock.advance(TTL + 1)
    upstream.error = UpstreamError()
    with capture_logs() as logs:
        result = await cache.get("ds:1", ttl=TTL, load=upstream)
        await until(lambda: len(asyncio.all_tasks()) == 1)  # the refresh has finished
    assert result.outcome is CacheOutcome.STALE
    assert logs[0] == {
        "event": "cache_refresh_failed",
        "key": "ds:1",
        "error": "UpstreamError",
        "suppressed": 0,
        "log_level": "warning",
    }
    upstream.error = None
    again = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert again.outcome is CacheOutcome.STALE  # the failure was not stored: a new refresh runs
    await until(lambda: upstream.calls == 3)


async def test_service_bypass_reloads_and_stores(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock, stats: CacheStats
) -> None:
    """A bypass read reloads a fresh entry and stores the new answer."""
    cache = make_service()
    await cache.get("md:1", ttl=TTL, load=upstream)
    clock.advance(10)
    bypass = await cache.get("md:1", ttl=TTL, load=upstream, bypass=True)
    assert bypass == CacheResult(200, JSON, b'{"v":2}', CacheOutcome.BYPASS, 0, 60, True)
    clock.advance(1)
    hit = await cache.get("md:1", ttl=TTL, load=upstream)
    assert (hit.outcome, hit.body, hit.age) == (CacheOutcome.HIT, b'{"v":2}', 1)
    assert stats.bypass == 1


async def test_service_bypass_joins_in_flight_load(
    make_service: ServiceFactory, upstream: FakeUpstream
) -> None:
    """A bypass read during a running load joins it instead of loading again."""
    cache = make_service()
    gate = upstream.hold()
    miss = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream))
    await until(lambda: upstream.calls == 1)
    bypass = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream, bypass=True))
    await asyncio.sleep(0)
    gate.set()
    assert (await miss).outcome is CacheOutcome.MISS
    assert (await bypass).outcome is CacheOutcome.BYPASS
    assert upstream.calls == 1


async def test_service_bypass_failure_serves_fresh_entry(
    make_service: ServiceFactory, upstream: FakeUpstream
) -> None:
    """A failed bypass reload answers with the fresh stored entry rather than an error."""
    cache = make_service()
    await cache.get("md:1", ttl=TTL, load=upstream)
    upstream.error = UpstreamError()
    with capture_logs() as logs:
        result = await cache.get("md:1", ttl=TTL, load=upstream, bypass=True)
    assert (result.outcome, result.body) == (CacheOutcome.HIT, b'{"v":1}')
    assert [e["event"] for e in logs] == ["cache_bypass_failed"]


async def test_service_invalidate_old_load_does_not_write_back(
    make_service: ServiceFactory, upstream: FakeUpstream
) -> None:
    """A load running across an invalidation answers its reader but is not stored."""
    cache = make_service()
    gate = upstream.hold()
    old = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream))
    await until(lambda: upstream.calls == 1)
    await cache.invalidate("md:1", "ds:1")
    gate.set()
    assert (await old).stored is False
    upstream.gate = None
    after = await cache.get("md:1", ttl=TTL, load=upstream)
    assert (after.outcome, after.body) == (CacheOutcome.MISS, b'{"v":2}')


async def test_service_invalidate_race_reader_after_gets_new_value(
    make_service: ServiceFactory,
) -> None:
    """A read after invalidation starts its own load, and the old load finishing later
    does not overwrite the new value."""
    cache = make_service()
    old_upstream, new_upstream = FakeUpstream(), FakeUpstream()
    old_gate, new_gate = old_upstream.hold(), new_upstream.hold()
    old = asyncio.create_task(cache.get("md:1", ttl=TTL, load=old_upstream))
    await until(lambda: old_upstream.calls == 1)
    await cache.invalidate("md:1")
    new = asyncio.create_task(cache.get("md:1", ttl=TTL, load=new_upstream))
    await until(lambda: new_upstream.calls == 1)
    new_gate.set()
    new_result = await new
    assert (new_result.body, new_result.stored) == (b'{"v":1}', True)
    old_upstream.status = 404  # the old answer is recognisable by its status
    old_gate.set()
    old_result = await old
    assert (old_result.status, old_result.stored) == (404, False)
    hit = await cache.get("md:1", ttl=TTL, load=old_upstream)
    assert (hit.outcome, hit.status) == (CacheOutcome.HIT, 200)


async def test_service_invalidate_during_backend_write_takes_it_back(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock, stats: CacheStats
) -> None:
    """An invalidation that lands while the old answer is being written removes it again."""
    backend = SlowWriteBackend(max_entries=10, retention=0, stats=stats, clock=clock)
    backend.gate = asyncio.Event()
    cache = make_service(backend=backend)
    read = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream))
    await until(lambda: upstream.calls == 1)
    await cache.invalidate("md:1")
    backend.gate.set()
    assert (await read).stored is False
    assert await backend.get("md:1") is None


async def test_service_clear_drops_entries_and_in_flight_loads(
    make_service: ServiceFactory, upstream: FakeUpstream
) -> None:
    """clear drops every entry and keeps running loads from writing back."""
    cache = make_service()
    await cache.get("ds:1", ttl=TTL, load=upstream)
    gate = upstream.hold()
    running = asyncio.create_task(cache.get("md:1", ttl=TTL, load=upstream))
    await until(lambda: upstream.calls == 2)
    await cache.clear()
    gate.set()
    assert (await running).stored is False
    upstream.gate = None
    for key in ("ds:1", "md:1"):
        assert (await cache.get(key, ttl=TTL, load=upstream)).outcome is CacheOutcome.MISS


async def test_service_cancelled_reader_does_not_cancel_store(
    make_service: ServiceFactory, upstream: FakeUpstream, stats: CacheStats
) -> None:
    """A reader that disconnects mid-load leaves the load to finish and store."""
    cache = make_service()
    gate = upstream.hold()
    reader = asyncio.create_task(cache.get("ds:1", ttl=TTL, load=upstream))
    await until(lambda: upstream.calls == 1)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    gate.set()
    await until(lambda: stats.stores == 1)
    assert (await cache.get("ds:1", ttl=TTL, load=upstream)).outcome is CacheOutcome.HIT


async def test_service_broken_backend_degrades_to_misses(
    make_service: ServiceFactory, upstream: FakeUpstream, stats: CacheStats
) -> None:
    """A failing backend turns reads into uncached loads instead of errors."""
    cache = make_service(backend=BrokenBackend(max_entries=10, retention=0, stats=stats))
    with capture_logs() as logs:
        result = await cache.get("ds:1", ttl=TTL, load=upstream)
    assert (result.status, result.outcome, result.stored) == (200, CacheOutcome.MISS, False)
    assert stats.backend_errors == 2
    assert {e["event"] for e in logs} == {"cache_backend_failed"}


async def test_service_close_cancels_background_work(
    make_service: ServiceFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """close cancels a running refresh and its load, and leaves nothing pending."""
    cache = make_service(stale_while_revalidate=30.0)
    await cache.get("ds:1", ttl=TTL, load=upstream)
    clock.advance(TTL + 1)
    upstream.hold()
    await cache.get("ds:1", ttl=TTL, load=upstream)
    await until(lambda: upstream.calls == 2)
    with capture_logs():
        await cache.close()
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == []


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            CacheResult(200, JSON, b"", CacheOutcome.HIT, 18, 42, True),
            {"X-Cache": "HIT", "Age": "18", "Cache-Status": "olconnect-gateway; hit; ttl=42"},
        ),
        (
            CacheResult(200, JSON, b"", CacheOutcome.STALE, 70, -10, True),
            {"X-Cache": "STALE", "Age": "70", "Cache-Status": "olconnect-gateway; hit; ttl=-10"},
        ),
        (
            CacheResult(200, JSON, b"", CacheOutcome.MISS, 0, 60, True),
            {"X-Cache": "MISS", "Cache-Status": "olconnect-gateway; fwd=miss; stored"},
        ),
        (
            CacheResult(500, JSON, b"", CacheOutcome.MISS, 0, 0, False),
            {"X-Cache": "MISS", "Cache-Status": "olconnect-gateway; fwd=miss"},
        ),
        (
            CacheResult(200, JSON, b"", CacheOutcome.BYPASS, 0, 60, True),
            {"X-Cache": "BYPASS", "Cache-Status": "olconnect-gateway; fwd=request; stored"},
        ),
        (
            CacheResult(400, JSON, b"", CacheOutcome.BYPASS, 0, 0, False),
            {"X-Cache": "BYPASS", "Cache-Status": "olconnect-gateway; fwd=request"},
        ),
    ],
)
def test_headers_for_every_outcome(result: CacheResult, expected: dict[str, str]) -> None:
    """Each outcome maps to X-Cache, Age only when served from the cache, and Cache-Status."""
    assert cache_headers(result) == expected


def test_headers_returns_a_new_dict() -> None:
    """Changing one answer's headers never changes another's."""
    result = CacheResult(200, JSON, b"", CacheOutcome.MISS, 0, 60, True)
    cache_headers(result)["X-Cache"] = "changed"
    assert cache_headers(result)["X-Cache"] == "MISS"
