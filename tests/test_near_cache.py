"""The near cache in front of Redis (issue 21 item 4): copies kept at most cache.near_ttl,
dropped across processes by pub/sub, fenced against writes within a process, bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from conftest import FakeClock, MakeGateway, MakeGatewayFor, MakeSimulator, key_header
from processes import (  # *_fixture: imported so pytest finds them in this module
    StartGateway,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
)
from redis.asyncio import Redis
from redis_fixtures import RedisServer
from structlog.testing import capture_logs
from test_cache_race import ALL, RACES, Race, read

from gateway.cache.base import Entry
from gateway.cache.lru import entry_size
from gateway.cache.near import NearCache

Gateway = TestClient[Any, Any]
METADATA = "/rest/serverengine/entity/jobsegments/{}/metadata"
READER, WRITER = key_header("reader"), key_header("writer")


def redis_cache(server: RedisServer, prefix: str, **settings: Any) -> dict[str, Any]:
    return {"backend": "redis", "redis_url": server.url, "redis_prefix": prefix, **settings}


def metadata(value: str, segment: int = 9) -> dict[str, Any]:
    return {"id": segment, "properties": [{"name": "customer", "value": value}]}


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def unsubscribable_url(
    redis: Redis, redis_server: RedisServer, redis_prefix: str
) -> AsyncIterator[str]:
    """A URL of the session's Redis for a user that may do anything but subscribe."""
    user, password = f"nosub{redis_prefix[1:-1]}", "pw-nosub"
    await redis.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all", "-subscribe", "-psubscribe", "-ssubscribe"],
    )
    yield redis_server.url.replace("redis://", f"redis://{user}:{password}@")
    await redis.acl_deluser(user)


# --- the near cache itself ---------------------------------------------------------------------


def _entry(status: int = 200, body: bytes = b"{}") -> Entry:
    return Entry(status, "application/json", body, 1_800_000_000.0, 60)


def test_copy_lives_near_ttl_from_when_its_read_began() -> None:
    """A copy is used strictly before since + ttl, then gone."""
    timer = FakeClock()
    near = NearCache(ttl=1.0, max_entries=10, max_bytes=10_000, timer=timer)
    since = timer()
    timer.advance(0.4)  # the read took this long
    near.put("k", _entry(), since=since, version=near.version)
    timer.advance(0.599)
    assert near.get("k") is not None
    timer.advance(0.001)
    assert near.get("k") is None
    assert len(near) == 0


def test_read_that_raced_an_invalidation_keeps_nothing() -> None:
    """A read or load that began before a drop, a fence or a clear puts nothing (SPEC §8.5)."""
    near = NearCache(ttl=5.0, max_entries=10, max_bytes=10_000, timer=FakeClock())
    invalidations: list[Callable[[], None]] = [lambda: near.drop(["other"]), near.fence, near.clear]
    for invalidate in invalidations:
        version = near.version
        invalidate()
        near.put("k", _entry(), since=near.now(), version=version)
        assert near.get("k") is None
    near.put("k", _entry(), since=near.now(), version=near.version)
    assert near.get("k") is not None


def test_not_found_is_never_kept_near() -> None:
    """Unknown ids stay in Redis's own bound; they never crowd the near cache."""
    near = NearCache(ttl=5.0, max_entries=10, max_bytes=10_000, timer=FakeClock())
    near.put("k", _entry(404), since=near.now(), version=near.version)
    assert near.get("k") is None


def test_near_cache_is_bounded_by_entries_and_bytes() -> None:
    """Beyond max_entries or max_bytes the least recently used copies go."""
    near = NearCache(ttl=5.0, max_entries=3, max_bytes=10**9, timer=FakeClock())
    for i in range(10):
        near.put(f"k{i}", _entry(), since=near.now(), version=near.version)
    assert len(near) == 3
    body = b"x" * 1000
    size = entry_size("k0", _entry(body=body))
    near = NearCache(ttl=5.0, max_entries=100, max_bytes=4 * size, timer=FakeClock())
    for i in range(10):
        near.put(f"k{i}", _entry(body=body), since=near.now(), version=near.version)
    assert near.nbytes <= 4 * size
    assert len(near) == 4
    assert near.get("k9") is not None
    assert near.get("k0") is None


# --- through gateways ---------------------------------------------------------------------------


async def _read(gateway: Gateway, path: str) -> tuple[str, bytes]:
    async with gateway.get(path, headers=READER) as answer:
        assert answer.status == 200
        return answer.headers["X-Cache"], await answer.read()


async def test_write_through_one_process_reaches_another_by_pubsub(
    start_gateway: StartGateway, redis_server: RedisServer, redis_prefix: str
) -> None:
    """Two `serve` processes with a 30 s near_ttl: a PUT through A is seen through B long
    before the bound, since A's invalidation is published and B drops its copy."""
    cache = redis_cache(redis_server, redis_prefix, near_ttl=30)
    a, b = await start_gateway(cache=cache), await start_gateway(cache=cache)
    path = METADATA.format(9)
    async with aiohttp.ClientSession(headers=READER) as session:

        async def read(url: str) -> tuple[str, bytes]:
            async with session.get(url + path) as answer:
                assert answer.status == 200
                return answer.headers["X-Cache"], await answer.read()

        assert (await read(b.url))[0] == "MISS"
        outcome, old = await read(b.url)
        assert outcome == "HIT"  # B's near copy (or Redis)
        async with session.put(a.url + path, json=metadata("via-A"), headers=WRITER) as put:
            assert put.status == 200
        written = time.monotonic()
        while True:
            _, body = await read(b.url)
            if b"via-A" in body:
                break
            assert body == old
            assert time.monotonic() - written < 3, "B kept its copy: no invalidation arrived"
            await asyncio.sleep(0.01)
        assert (await read(b.url)) == ("HIT", body)


async def test_near_ttl_bounds_staleness_when_no_invalidation_arrives(
    make_gateway: MakeGateway,
    redis_server: RedisServer,
    redis_prefix: str,
    unsubscribable_url: str,
) -> None:
    """B may not subscribe (an ACL without pub/sub): after a PUT through A, B serves its
    copy until near_ttl after the read that made it, never later, then the new value."""
    near_ttl = 1.0  # the default; shorter ones made the test sensitive to a loaded machine
    a = await make_gateway(cache=redis_cache(redis_server, redis_prefix, near_ttl=near_ttl))
    cache_b = redis_cache(redis_server, redis_prefix, near_ttl=near_ttl)
    with capture_logs() as logs:
        b = await make_gateway(cache={**cache_b, "redis_url": unsubscribable_url})
        path = METADATA.format(9)
        await _read(b, path)
        read_at = time.monotonic()
        outcome, old = await _read(b, path)  # B's copy, made by the read above
        async with a.put(path, json=metadata("via-A"), headers=WRITER) as put:
            assert put.status == 200
        answers: list[tuple[float, bytes]] = []
        while not answers or b"via-A" not in answers[-1][1]:
            sent = time.monotonic()
            answers.append((sent, (await _read(b, path))[1]))
            assert sent - read_at < 3 * near_ttl, "B never saw the write"
            await asyncio.sleep(0.01)
    assert outcome == "HIT"
    stale = [sent for sent, body in answers if body == old]
    assert stale, "B served no copy after the PUT: the near cache was not used"
    assert max(stale) < read_at + near_ttl  # the bound
    assert {body for _, body in answers} <= {old, answers[-1][1]}
    assert any(e["event"] == "near_cache_unsubscribed" for e in logs)


@pytest.mark.parametrize("race", RACES.values(), ids=RACES.keys())
async def test_write_through_this_process_drops_its_near_copy_before_answering(
    make_gateway: MakeGateway,
    redis_server: RedisServer,
    redis_prefix: str,
    unsubscribable_url: str,
    race: Race,
) -> None:
    """Without any message (no subscription), a write through this gateway drops its own
    near copies of the entity, the family or the deleted set before its answer is sent."""
    cache = redis_cache(redis_server, redis_prefix, near_ttl=30)
    cache["redis_url"] = unsubscribable_url
    gateway = await make_gateway(cache=cache)
    assert (await read(gateway, race.read))[1] == "MISS"
    _, outcome, old = await read(gateway, race.read)
    assert outcome == "HIT"
    async with gateway.request(race.method, race.write, json=race.body, headers=ALL) as answer:
        assert answer.status == 200
    status, outcome, now = await read(gateway, race.read)
    assert outcome == "MISS"
    assert status == (404 if race.gone else 200)
    assert now != old


@pytest.mark.parametrize("near_ttl", [0, 30])
async def test_near_ttl_zero_turns_the_near_cache_off(
    make_gateway: MakeGateway,
    redis_server: RedisServer,
    redis_prefix: str,
    redis: Redis,
    near_ttl: float,
) -> None:
    """With near_ttl 0 every read asks Redis (an entry deleted behind the gateway's back is
    a MISS) and nothing subscribes; with a near cache the copy answers."""
    gateway = await make_gateway(cache=redis_cache(redis_server, redis_prefix, near_ttl=near_ttl))
    path = METADATA.format(4)
    assert (await _read(gateway, path))[0] == "MISS"
    assert (await _read(gateway, path))[0] == "HIT"
    assert await redis.delete(f"{redis_prefix}e:GET {path}") == 1
    outcome, _ = await _read(gateway, path)
    channel = f"{redis_prefix}near"

    async def subscribers() -> int:
        return int(dict(await redis.pubsub_numsub(channel))[channel.encode()])

    if near_ttl == 0:
        assert outcome == "MISS"
        assert await subscribers() == 0
    else:
        assert outcome == "HIT"
        give_up = time.monotonic() + 5
        while await subscribers() != 1:  # the subscription starts with the first read
            assert time.monotonic() < give_up, "the near cache never subscribed"
            await asyncio.sleep(0.01)


async def test_near_cache_holds_at_most_near_max_bytes(
    make_gateway_for: MakeGatewayFor,
    make_simulator: MakeSimulator,
    redis_server: RedisServer,
    redis_prefix: str,
    redis: Redis,
) -> None:
    """Ten ~0.3 MB variants read through a near cache of 1 MB: once Redis has lost them
    all, at most three are still answered, from the near copies."""
    sim = make_simulator(seed={"segments": {7: {"document_sets": list(range(1, 50_001))}}})
    cache = redis_cache(redis_server, redis_prefix, near_ttl=30, near_max_bytes=1_000_000)
    gateway = await make_gateway_for(sim, cache=cache)
    paths = [f"/rest/serverengine/entity/jobsegments/7?v={i}" for i in range(10)]
    for path in paths:
        assert (await _read(gateway, path))[0] == "MISS"
    await redis.delete(*[f"{redis_prefix}e:GET {path}" for path in paths])
    outcomes = [(await _read(gateway, path))[0] for path in reversed(paths)]
    assert 1 <= outcomes.count("HIT") <= 3
    assert outcomes[0] == "HIT"  # the most recently read copy
