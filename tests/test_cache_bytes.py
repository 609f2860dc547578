"""What the cache holds is bounded in bytes (F6, cache.max_bytes) and 404s keep their own
bound in Redis too (issue 23 item 8), in memory and on a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import WALL_START, FakeClock, MakeGatewayFor, MakeSimulator, key_header
from redis.asyncio import Redis
from redis_fixtures import RedisServer

from gateway.cache.base import CacheStats, Entry
from gateway.cache.lru import entry_size
from gateway.cache.memory import MemoryBackend

Gateway = TestClient[Any, Any]
SEGMENTS = "/rest/serverengine/entity/jobsegments"
# One large answer (~0.29 MB of JSON) whose query-string variants are each stored apart.
LARGE = {"segments": {7: {"document_sets": list(range(1, 50_001))}}}
VARIANTS = [f"{SEGMENTS}/7?variant={i}" for i in range(10)]
MAX_BYTES = 1_000_000  # room for three variants


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def redis_cache(server: RedisServer, prefix: str, **settings: Any) -> dict[str, Any]:
    # near_ttl 0: what is answered as a HIT comes from Redis itself.
    return {
        "backend": "redis",
        "redis_url": server.url,
        "redis_prefix": prefix,
        "near_ttl": 0,
        **settings,
    }


async def read(gateway: Gateway, path: str) -> tuple[int, str]:
    async with gateway.get(path, headers=key_header("reader")) as answer:
        await answer.read()
        return answer.status, answer.headers.get("X-Cache", "-")


async def read_all(gateway: Gateway, paths: list[str]) -> list[tuple[int, str]]:
    """Read every path, twenty at a time (order matters to no test that uses this)."""
    results: list[tuple[int, str]] = []
    for start in range(0, len(paths), 20):
        batch = paths[start : start + 20]
        results += await asyncio.gather(*(read(gateway, path) for path in batch))
    return results


async def metric(gateway: Gateway, name: str) -> float:
    async with gateway.get("/metrics") as answer:
        text = await answer.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


# --- memory -------------------------------------------------------------------------------------


async def test_memory_bytes_bound_pushes_out_404s_before_answers() -> None:
    """Within max_bytes, 404s go first; a 404 never pushes out an answer; an answer larger
    than the bound alone is not stored."""
    clock = FakeClock(WALL_START)
    stats = CacheStats()
    body = b"x" * 10_000
    size = entry_size("a0", Entry(200, "application/json", body, clock(), 60))
    backend = MemoryBackend(
        max_entries=100, retention=0, stats=stats, clock=clock, max_bytes=3 * size + 1000
    )
    await backend.set("a0", Entry(200, "application/json", body, clock(), 60))
    await backend.set("a1", Entry(200, "application/json", body, clock(), 60))
    for i in range(50):
        await backend.set(f"n{i}", Entry(404, "application/json", b"{}", clock(), 5))
    assert await backend.get("a0") is not None
    assert await backend.get("a1") is not None
    assert backend.byte_count() <= 3 * size + 1000
    await backend.set("a2", Entry(200, "application/json", body, clock(), 60))
    await backend.set("a3", Entry(200, "application/json", body, clock(), 60))
    assert backend.byte_count() <= 3 * size + 1000
    assert await backend.get("a0") is None  # the least recently used answer
    assert [await backend.get(f"n{i}") for i in range(50)] == [None] * 50
    await backend.set("huge", Entry(200, "application/json", body * 4, clock(), 60))
    assert await backend.get("huge") is None
    assert await backend.get("a3") is not None


async def test_memory_query_variants_of_one_large_answer_stay_under_max_bytes(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """Ten variants of a ~0.29 MB answer against max_bytes of 1 MB: at most three are held."""
    gateway = await make_gateway_for(make_simulator(seed=LARGE), cache={"max_bytes": MAX_BYTES})
    assert {await read(gateway, path) for path in VARIANTS} == {(200, "MISS")}
    assert await metric(gateway, "olcg_cache_entries") <= 3
    outcomes = [(await read(gateway, path))[1] for path in reversed(VARIANTS)]
    assert 1 <= outcomes.count("HIT") <= 3
    assert outcomes[0] == "HIT"  # the most recent one was kept
    assert await metric(gateway, "olcg_cache_evictions_total") >= 7


# --- Redis --------------------------------------------------------------------------------------


async def test_redis_query_variants_of_one_large_answer_stay_under_max_bytes(
    make_gateway_for: MakeGatewayFor,
    make_simulator: MakeSimulator,
    redis_server: RedisServer,
    redis_prefix: str,
    redis: Redis,
) -> None:
    """The same in Redis: its own ledger keeps the entries' bytes (as Redis stores them)
    under max_bytes, evicting the entry nearest its expiry."""
    cache = redis_cache(redis_server, redis_prefix, max_bytes=MAX_BYTES)
    gateway = await make_gateway_for(make_simulator(seed=LARGE), cache=cache)
    assert {await read(gateway, path) for path in VARIANTS} == {(200, "MISS")}
    entries = [name async for name in redis.scan_iter(match=f"{redis_prefix}e:*")]
    assert 1 <= len(entries) <= 3
    assert sum([await redis.strlen(name) for name in entries]) <= MAX_BYTES
    assert int(await redis.get(f"{redis_prefix}z:bytes") or 0) <= MAX_BYTES
    outcomes = [(await read(gateway, path))[1] for path in reversed(VARIANTS)]
    assert 1 <= outcomes.count("HIT") <= 3
    assert outcomes[0] == "HIT"
    assert await metric(gateway, "olcg_cache_evictions_total") >= 7


async def test_redis_not_found_flood_never_pushes_out_answers_under_max_bytes(
    make_gateway_for: MakeGatewayFor,
    make_simulator: MakeSimulator,
    redis_server: RedisServer,
    redis_prefix: str,
) -> None:
    """With the byte budget nearly full of answers, 200 unknown ids push out only 404s."""
    cache = redis_cache(redis_server, redis_prefix, max_bytes=MAX_BYTES)
    gateway = await make_gateway_for(make_simulator(seed=LARGE), cache=cache)
    kept = VARIANTS[:3]
    assert {await read(gateway, path) for path in kept} == {(200, "MISS")}
    unknown = [f"{SEGMENTS}/{n}" for n in range(100_001, 100_201)]
    assert set(await read_all(gateway, unknown)) == {(404, "MISS")}
    assert {await read(gateway, path) for path in kept} == {(200, "HIT")}


async def test_redis_holds_at_most_max_not_found_404s_and_never_at_answers_expense(
    make_gateway_for: MakeGatewayFor,
    make_simulator: MakeSimulator,
    redis_server: RedisServer,
    redis_prefix: str,
) -> None:
    """cache.max_not_found 10 on Redis: of 500 unknown ids asked twice, at most 10 are
    answered from the cache the second time; the 20 answers cached before all stay HITs."""
    cache = redis_cache(redis_server, redis_prefix, max_not_found=10)
    gateway = await make_gateway_for(make_simulator(), cache=cache)
    good = [f"{SEGMENTS}/{n}/metadata" for n in range(1, 21)]
    assert {await read(gateway, path) for path in good} == {(200, "MISS")}
    unknown = [f"{SEGMENTS}/{n}" for n in range(100_001, 100_501)]
    assert set(await read_all(gateway, unknown)) == {(404, "MISS")}
    second = await read_all(gateway, unknown)
    assert {status for status, _ in second} == {404}
    assert [outcome for _, outcome in second].count("HIT") <= 10
    assert {await read(gateway, path) for path in good} == {(200, "HIT")}
