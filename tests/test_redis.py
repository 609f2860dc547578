"""The Redis backend on a real redis-server: encoding, prefixes, sharing between gateways,
cross-instance coalescing and invalidation, Redis outages, and `serve --workers`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway, basic_auth_header, key_header
from processes import (  # *_fixture: imported so pytest finds them in this module
    UPSTREAM_ENV,
    Child,
    StartGateway,
    free_port,
    poll,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
    wait_http,
    write_config,
)
from processes import Gateway as ServeChild
from redis.asyncio import Redis
from redis_fixtures import MakeRedisServer, RedisServer
from structlog.testing import capture_logs
from test_cache_service import TTL, FakeUpstream

from gateway.cache import CacheOutcome, CacheService
from gateway.cache.base import CacheStats, Entry
from gateway.cache.encoding import decode, encode
from gateway.cache.redis.backend import RedisBackend, connect
from gateway.simulator import Simulator

SEGMENTS = "/rest/serverengine/entity/jobsegments"
Gateway = TestClient[Any, Any]


@pytest.fixture
async def make_backend(
    redis_server: RedisServer, wall_clock: FakeClock
) -> AsyncIterator[Callable[[str], RedisBackend]]:
    """RedisBackends on the session's redis-server, closed at the end."""
    made: list[RedisBackend] = []

    def make(prefix: str) -> RedisBackend:
        backend = RedisBackend(
            connect(redis_server.url), prefix=prefix, retention=30, clock=wall_clock
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


def redis_cache(url: str, prefix: str) -> dict[str, Any]:
    """The `cache:` config section of a gateway on that Redis.

    A generous redis_timeout: these tests are about sharing, and on a loaded test machine
    a burst of requests can keep the event loop from reading a reply for 0.25 s.
    """
    return {"backend": "redis", "redis_url": url, "redis_prefix": prefix, "redis_timeout": 2}


async def get(gateway: Gateway, path: str) -> tuple[int, str, bytes]:
    """GET as the reader client: status, X-Cache, body."""
    async with gateway.get(path, headers=key_header("reader")) as response:
        return response.status, response.headers.get("X-Cache", ""), await response.read()


@pytest.mark.parametrize(
    "entry",
    [
        Entry(200, "application/json", b'{"identifiers":[1,2,3]}', 1_800_000_000.25, 300),
        Entry(404, "application/json; charset=utf-8", b"", 1_800_000_001.0, 5),
        Entry(200, "application/x-bin", bytes(range(256)) * 64, 0.0, 0.5),
    ],
    ids=["json", "empty-404", "binary"],
)
def test_encoding_round_trip(entry: Entry) -> None:
    """An entry decodes to itself; the stored form is a 21-byte header, the type, the body."""
    raw = encode(entry)
    assert decode(raw) == entry
    assert len(raw) == 21 + len(entry.content_type.encode()) + len(entry.body)


@pytest.mark.parametrize("raw", [b"", b"\x01short", b"\x09" + bytes(40)], ids=str)
def test_encoding_rejects_foreign_values(raw: bytes) -> None:
    """A value that is not our encoding (or a future version of it) is a ValueError."""
    with pytest.raises(ValueError, match="cache entry"):
        decode(raw)


async def test_redis_entry_expires_after_ttl_plus_retention(
    make_backend: Callable[[str], RedisBackend], redis_server: RedisServer, redis_prefix: str
) -> None:
    """The Redis expiry of an entry covers its ttl and the retention, counted from stored_at."""
    backend = make_backend(redis_prefix)
    await backend.set("ds:1", Entry(200, "application/json", b"[]", 1_800_000_000.0, 60))
    async with Redis.from_url(redis_server.url) as client:
        pttl = await client.pttl(redis_prefix + "e:ds:1")
    assert 89_000 < pttl <= 90_000


async def test_redis_clear_leaves_other_prefixes(
    make_backend: Callable[[str], RedisBackend], redis_prefix: str, wall_clock: FakeClock
) -> None:
    """clear drops this prefix's entries only; a gateway on another prefix keeps its own."""
    mine, theirs = make_backend(redis_prefix), make_backend(redis_prefix + "x*[")
    entry = Entry(200, "text/plain", b"x", wall_clock(), 60)
    for key in ("ds:1", "md:1"):
        await mine.set(key, entry)
        await theirs.set(key, entry)
    await mine.clear()
    assert [await mine.get("ds:1"), await mine.get("md:1")] == [None, None]
    assert [await theirs.get("ds:1"), await theirs.get("md:1")] == [entry, entry]
    assert mine.entry_count() is None


async def test_redis_invalidation_elsewhere_fences_running_load(
    make_backend: Callable[[str], RedisBackend], redis_prefix: str, wall_clock: FakeClock
) -> None:
    """An invalidation through another instance keeps a load running here from writing back."""
    services = [
        CacheService(
            make_backend(redis_prefix),
            not_found_ttl=5,
            stale_if_error=0,
            stale_while_revalidate=0,
            wait_timeout=5,
            stats=CacheStats(),
            clock=wall_clock,
        )
        for _ in range(2)
    ]
    here, elsewhere = services
    upstream = FakeUpstream()
    gate = upstream.hold()
    old = asyncio.create_task(here.get("md:1", ttl=TTL, load=upstream))
    await poll(lambda: _true_if(upstream.calls == 1), 5, "the load to start")
    await elsewhere.invalidate("md:1")
    gate.set()
    assert (await old).stored is False
    upstream.gate = None
    assert (await elsewhere.get("md:1", ttl=TTL, load=upstream)).outcome is CacheOutcome.MISS


def _service(backend: RedisBackend, clock: FakeClock) -> CacheService:
    return CacheService(
        backend,
        not_found_ttl=5,
        stale_if_error=0,
        stale_while_revalidate=0,
        wait_timeout=5,
        stats=CacheStats(),
        clock=clock,
    )


async def test_redis_waiter_takes_over_when_the_holder_died(
    make_backend: Callable[[str], RedisBackend],
    redis_server: RedisServer,
    redis_prefix: str,
    wall_clock: FakeClock,
) -> None:
    """A lock left by a holder that died (no renewals) expires, and a waiter loads and stores."""
    async with Redis.from_url(redis_server.url) as client:
        await client.set(redis_prefix + "l:ds:4", "dead-holder", px=200)
    cache = _service(make_backend(redis_prefix), wall_clock)
    upstream = FakeUpstream()
    result = await cache.get("ds:4", ttl=TTL, load=upstream)
    assert (result.outcome, result.stored, upstream.calls) == (CacheOutcome.MISS, True, 1)
    await cache.close()


class LateReadBackend(RedisBackend):
    """Every read misses, as a read answered just before another load stored would."""

    async def get(self, key: str) -> Entry | None:
        return None


async def test_redis_read_that_raced_a_store_uses_the_stored_entry(
    redis_server: RedisServer, redis_prefix: str, wall_clock: FakeClock
) -> None:
    """A load whose read missed but that finds a fresh entry on taking the lock answers
    with it instead of calling the upstream again; a bypass still reloads."""
    backend = LateReadBackend(
        connect(redis_server.url), prefix=redis_prefix, retention=0, clock=wall_clock
    )
    await backend.set("ds:6", Entry(200, "application/json", b"[6]", wall_clock(), TTL))
    cache = _service(backend, wall_clock)
    upstream = FakeUpstream()
    result = await cache.get("ds:6", ttl=TTL, load=upstream)
    assert (result.outcome, result.body, upstream.calls) == (CacheOutcome.MISS, b"[6]", 0)
    bypass = await cache.get("ds:6", ttl=TTL, load=upstream, bypass=True)
    assert (bypass.outcome, bypass.body, upstream.calls) == (CacheOutcome.BYPASS, b'{"v":1}', 1)
    await cache.close()


async def test_redis_holder_renews_its_lock_while_loading(
    redis_server: RedisServer, redis_prefix: str, wall_clock: FakeClock
) -> None:
    """A load outlasting several lock lifetimes keeps its lock: the other instance waits
    for its answer instead of calling the upstream too."""
    here, there = (
        _service(
            RedisBackend(
                connect(redis_server.url),
                prefix=redis_prefix,
                retention=0,
                lock_ttl=0.06,
                clock=wall_clock,
            ),
            wall_clock,
        )
        for _ in range(2)
    )
    upstream = FakeUpstream()
    gate = upstream.hold()
    first = asyncio.create_task(here.get("ds:5", ttl=TTL, load=upstream))
    await poll(lambda: _true_if(upstream.calls == 1), 5, "the load to start")
    second = asyncio.create_task(there.get("ds:5", ttl=TTL, load=upstream))
    # What is tested is that nothing happens for several lock lifetimes: watch the lock
    # (`p l:<key>`) until its time left has jumped back up five times (renewals, one per
    # third of a lifetime) with the same holder. A holder that stopped renewing would
    # lose it within one lifetime, and the other instance would call the upstream.
    lock = f"{redis_prefix}l:ds:5"
    seen: list[tuple[bytes | None, int]] = []
    async with Redis.from_url(redis_server.url) as watcher:

        async def renewed_or_lost() -> bool | None:
            async with watcher.pipeline(transaction=False) as pipe:
                pipe.get(lock)
                pipe.pttl(lock)
                holder, left = await pipe.execute()
            seen.append((holder, left))
            renewals = sum(later > earlier for (_, earlier), (_, later) in pairwise(seen))
            lost = holder is None or holder != seen[0][0] or upstream.calls > 1
            return True if lost or renewals >= 5 else None

        await poll(renewed_or_lost, 5, "five renewals of the lock", interval=0.005)
    assert seen[-1][0] == seen[0][0] is not None, "the holder lost its lock"
    assert upstream.calls == 1
    gate.set()
    results = [await first, await second]
    assert [(r.body, r.outcome) for r in results] == [(b'{"v":1}', CacheOutcome.MISS)] * 2
    assert upstream.calls == 1
    await here.close()
    await there.close()


async def _true_if(condition: bool) -> bool | None:
    return True if condition else None


async def test_two_gateways_share_entries(
    make_gateway: MakeGateway, redis_server: RedisServer, redis_prefix: str, simulator: Simulator
) -> None:
    """One gateway's MISS is the other's HIT: one upstream call for both."""
    cache = redis_cache(redis_server.url, redis_prefix)
    a, b = await make_gateway(cache=cache), await make_gateway(cache=cache)
    first = await get(a, f"{SEGMENTS}/7")
    second = await get(b, f"{SEGMENTS}/7")
    assert (first[0], first[1]) == (200, "MISS")
    assert second == (200, "HIT", first[2])
    assert simulator.calls["document_sets"] == 1


async def test_two_gateways_coalesce_concurrent_misses(
    make_gateway: MakeGateway, redis_server: RedisServer, redis_prefix: str, simulator: Simulator
) -> None:
    """A hundred concurrent misses for one entry, split over two gateways: one upstream call."""
    cache = redis_cache(redis_server.url, redis_prefix)
    a, b = await make_gateway(cache=cache), await make_gateway(cache=cache)
    simulator.route_latency["document_sets"] = 0.05  # every request arrives while it loads
    results = await asyncio.gather(*(get((a, b)[i % 2], f"{SEGMENTS}/8") for i in range(100)))
    assert {(status, body) for status, _, body in results} == {(200, results[0][2])}
    assert simulator.calls["document_sets"] == 1


async def test_put_through_one_gateway_is_read_back_through_the_other(
    make_gateway: MakeGateway, redis_server: RedisServer, redis_prefix: str
) -> None:
    """A PUT through A drops the shared entry: B's next GET shows the new metadata."""
    cache = redis_cache(redis_server.url, redis_prefix)
    a, b = await make_gateway(cache=cache), await make_gateway(cache=cache)
    path = f"{SEGMENTS}/9/metadata"
    assert (await get(b, path))[1] == "MISS"
    assert (await get(b, path))[1] == "HIT"
    properties = [{"name": "customer", "value": "ACME-redis"}]
    async with a.put(path, json={"id": 9, "properties": properties}, headers=key_header("writer")):
        pass
    status, outcome, body = await get(b, path)
    assert (status, outcome) == (200, "MISS")
    assert b"ACME-redis" in body


async def test_redis_outage_is_not_an_outage(
    make_gateway: MakeGateway, make_redis_server: MakeRedisServer, simulator: Simulator
) -> None:
    """Redis killed mid-traffic: only 200s (from the upstream), one warning, ready stays green;
    after Redis restarts, entries are cached again without a restart of the gateway."""
    redis = make_redis_server()
    gateway = await make_gateway(cache=redis_cache(redis.url, "outage:"))
    assert (await get(gateway, f"{SEGMENTS}/1"))[1] == "MISS"
    assert (await get(gateway, f"{SEGMENTS}/1"))[1] == "HIT"

    async def traffic(segment: int) -> list[tuple[int, str, bytes]]:
        return [await get(gateway, f"{SEGMENTS}/{segment}") for _ in range(10)]

    with capture_logs() as logs:
        running = asyncio.gather(*(traffic(segment) for segment in range(1, 11)))
        await poll(lambda: _true_if(simulator.calls["document_sets"] >= 5), 5, "traffic")
        redis.stop()
        results = [result for batch in await running for result in batch]
        after = [await get(gateway, f"{SEGMENTS}/{n}") for n in range(1, 11)]
        async with gateway.get("/readyz") as ready:
            assert ready.status == 200
    assert {status for status, _, _ in results + after} == {200}
    assert {outcome for _, outcome, _ in after} == {"MISS"}  # straight to the upstream
    warnings = [e for e in logs if e["event"] == "cache_backend_failed"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"

    redis.start()  # same port, empty

    async def cached_again() -> bool | None:
        await get(gateway, f"{SEGMENTS}/2")
        return True if (await get(gateway, f"{SEGMENTS}/2"))[1] == "HIT" else None

    await poll(cached_again, 10, "the cache to be used again", interval=0.05)


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_serve_workers_share_port_and_stop_on_sigterm(
    upstream: str,
    sim_control: aiohttp.ClientSession,
    redis_server: RedisServer,
    redis_prefix: str,
    tmp_path: Path,
    backend: str,
) -> None:
    """`serve --workers 2` runs two processes on one port, each with its own memory cache or
    both on one Redis cache; a SIGHUP to the parent reaches every worker, and a SIGTERM
    stops them all with exit 0."""
    port = free_port()
    cache = redis_cache(redis_server.url, redis_prefix) if backend == "redis" else {}
    config = write_config(
        tmp_path / "gateway.yaml",
        port=port,
        upstream_port=int(upstream.rsplit(":", 1)[1]),
        cache=cache,
    )
    child = Child(["serve", "--config", str(config), "--workers", "2"], tmp_path, UPSTREAM_ENV)
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_http(url + "/healthz", child)

        def listening() -> set[int]:
            return {e["pid"] for e in child.log_events() if e["event"] == "gateway_listening"}

        await poll(lambda: _true_if(len(listening()) == 2), 10, "two workers listening")
        outcomes = []
        # A new connection each: the kernel spreads them over both workers, so with
        # memory caches each worker misses once (all on one: a 2**-19 chance).
        for _ in range(20):
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{url}{SEGMENTS}/3", headers=key_header("reader")) as response,
            ):
                assert response.status == 200
                outcomes.append(response.headers["X-Cache"])
        misses = 1 if backend == "redis" else 2
        assert (outcomes[0], outcomes.count("MISS")) == ("MISS", misses), child.stdout[-4000:]
        # Every access line names the worker that served it.
        await poll(
            lambda: _true_if(len([e for e in child.log_events() if e["event"] == "request"]) >= 20),
            10,
            "the access lines",
        )
        served = [e for e in child.log_events() if e["event"] == "request"]
        assert {e.get("pid") for e in served} <= listening()
        async with sim_control.get("/_sim/calls") as response:
            assert (await response.json())["document_sets"] == misses

        # A session token from the login route works on whichever worker takes the next
        # connection: the workers share one signing secret.
        basic = {"Authorization": basic_auth_header("reader", KEYS["reader"])}
        for _ in range(10):
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{url}/rest/serverengine/authentication/login", headers=basic
                ) as login,
            ):
                token = await login.text()
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{url}{SEGMENTS}/3", headers={"auth_token": token}) as response,
            ):
                assert response.status == 200

        child.send(signal.SIGHUP)  # every worker reloads its clients

        def reloaded() -> set[int]:
            return {e["pid"] for e in child.log_events() if e["event"] == "config_reloaded"}

        await poll(lambda: _true_if(reloaded() == listening()), 10, "both workers to reload")

        child.send(signal.SIGTERM)
        assert await child.exit_code() == 0
        events = child.log_events()
        stopped = [e["pid"] for e in events if e["event"] == "gateway_stopped"]
        assert sorted(stopped) == sorted(listening())
        assert "Traceback" not in child.stderr
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(url + "/healthz")
    finally:
        child.kill()


async def test_two_serve_processes_share_entries_and_invalidations_of_any_family(
    start_gateway: StartGateway,
    sim_control: aiohttp.ClientSession,
    redis_server: RedisServer,
    redis_prefix: str,
) -> None:
    """Two `serve` processes on one Redis: B hits what A stored, and a write of a job's
    properties through B drops A's entry (SPEC §8.5, beyond job segments)."""
    cache = redis_cache(redis_server.url, redis_prefix)
    a, b = await start_gateway(cache=cache), await start_gateway(cache=cache)
    path = "/rest/serverengine/entity/jobs/5/properties"
    writer = key_header("writer")
    async with aiohttp.ClientSession(headers=writer) as session:

        async def read(gateway: ServeChild) -> tuple[str, Any]:
            async with session.get(gateway.url + path) as answer:
                assert answer.status == 200
                return answer.headers["X-Cache"], await answer.json()

        miss, before = await read(a)
        assert miss == "MISS"
        assert await read(b) == ("HIT", before)
        properties = [{"name": "state", "value": "written through B"}]
        async with session.put(b.url + path, json={"id": 5, "properties": properties}) as put:
            assert put.status == 200
        assert await read(a) == ("MISS", properties)
        assert await read(b) == ("HIT", properties)
    async with sim_control.get("/_sim/calls") as calls:
        assert (await calls.json())["jobs.properties_get"] == 2
