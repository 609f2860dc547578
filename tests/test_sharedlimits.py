"""Rate limits and login failure counts shared through a real redis-server: one limit for
every gateway on it, and a per-process fallback (logged once each way) when Redis is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import hdrs
from conftest import KEYS, FakeClock, MakeGateway, basic_auth_header, key_header
from processes import (
    StartGateway,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401 - *_fixture: imported so pytest finds them here
)
from redis_fixtures import MakeRedisServer, RedisServer
from structlog.testing import capture_logs

from gateway.access.loginguard import LIMIT, FailureLog
from gateway.access.ratelimit import RateLimiter
from gateway.access.sharedlimits import RETRY_INTERVAL, SharedLimits
from gateway.cache.redis.backend import connect

LOGIN = "/rest/serverengine/authentication/login"
SEGMENTS = "/rest/serverengine/entity/jobsegments"
WRONG = "olcg_wrong_guess_0123456789abcdef"
MakeLimits = Callable[..., SharedLimits]
# A generous Redis timeout: these tests are about sharing, and a loaded test machine can
# keep an event loop busy with a burst of requests for longer than the 0.25 s default.
TIMEOUT = 2.0


@pytest.fixture
async def make_limits(clock: FakeClock) -> AsyncIterator[MakeLimits]:
    """SharedLimits on a Redis URL with fresh local fallbacks; closed at the end."""
    made: list[SharedLimits] = []

    def make(url: str, prefix: str, timer: Callable[[], float] = clock) -> SharedLimits:
        limits = SharedLimits(
            connect(url, TIMEOUT),
            prefix=prefix,
            limiter=RateLimiter(clock),
            failures=FailureLog(clock=clock),
            timer=timer,
        )
        made.append(limits)
        return limits

    yield make
    for limits in made:
        await limits.close()


async def drain(limits: SharedLimits, client: str, rate: float) -> tuple[int, float]:
    """Acquire until refused: how many were allowed, and the wait the refusal named."""
    allowed = 0
    while (wait := await limits.acquire(client, rate)) == 0:
        allowed += 1
        assert allowed < 1000
    return allowed, wait


@pytest.mark.parametrize(("rate", "burst"), [(5, 10), (0.25, 1), (50, 100)])
async def test_shared_bucket_allows_the_burst_then_waits_one_interval(
    make_limits: MakeLimits, redis_server: RedisServer, redis_prefix: str, rate: float, burst: int
) -> None:
    """In Redis, as in-process: bursts of max(1, 2 x rate), then a wait of about 1/rate."""
    limits = make_limits(redis_server.url, redis_prefix)
    started = time.monotonic()
    allowed, wait = await drain(limits, "a", rate)
    # Redis's clock runs during the drain: it may refill what that time is worth.
    assert burst <= allowed <= burst + rate * (time.monotonic() - started) + 1
    assert 0 < wait <= 1 / rate


async def test_shared_bucket_is_one_for_every_gateway_on_the_redis(
    make_limits: MakeLimits, redis_server: RedisServer, redis_prefix: str
) -> None:
    """Three instances draining one client together get one burst between them."""
    instances = [make_limits(redis_server.url, redis_prefix) for _ in range(3)]
    started = time.monotonic()
    results = await asyncio.gather(*(limits.acquire("a", 5) for limits in instances * 10))
    allowed = sum(1 for wait in results if wait == 0)
    assert 10 <= allowed <= 10 + 5 * (time.monotonic() - started) + 1
    assert allowed < 20  # per-process buckets would have let 30 through


async def test_shared_login_failures_block_on_every_gateway(
    make_limits: MakeLimits, redis_server: RedisServer, redis_prefix: str
) -> None:
    """Failures recorded through two instances add up; both see the address blocked, and the
    name only once its failures came from three addresses."""
    first, second = (make_limits(redis_server.url, redis_prefix) for _ in range(2))
    for i in range(LIMIT):
        await (first if i % 2 else second).record("addr:y", "name:x")
    assert 0 < await first.blocked("addr:y", None) <= 60
    assert 0 < await second.blocked("addr:y", "name:other") <= 60
    assert await second.blocked("addr:z", "name:x") == 0  # one address: the name stays open
    await first.record("addr:v", "name:x")
    await second.record("addr:w", "name:x")
    assert 0 < await first.blocked("addr:z", "name:x") <= 60
    assert 0 < await second.blocked("addr:z", "name:x") <= 60
    assert await second.blocked("addr:z", "name:other") == 0


async def test_shared_limits_fall_back_per_process_and_log_once_each_way(
    make_limits: MakeLimits, make_redis_server: MakeRedisServer, redis_prefix: str
) -> None:
    """Redis down: local counting, one warning however many requests; back: one info line."""
    server = make_redis_server()
    timer = FakeClock()
    limits = make_limits(server.url, redis_prefix, timer=timer)
    assert await limits.acquire("a", 5) == 0
    server.stop()
    with capture_logs() as down:
        assert (await drain(limits, "a", 5))[0] == 10  # the local bucket: a fresh one
        for _ in range(LIMIT):
            await limits.record("addr:x", None)
        timer.advance(RETRY_INTERVAL)  # Redis is asked again, and fails again
        assert await limits.blocked("addr:x", None) > 0
    assert [e["event"] for e in down] == ["shared_limits_unavailable"]
    server.start()
    timer.advance(RETRY_INTERVAL)
    with capture_logs() as back:
        assert await limits.blocked("addr:x", None) == 0  # Redis never saw those failures
        assert await limits.acquire("b", 5) == 0
    assert [e["event"] for e in back] == ["shared_limits_recovered"]


async def test_login_failures_shared_by_two_gateways_on_one_redis(
    make_gateway: MakeGateway, redis_server: RedisServer, redis_prefix: str
) -> None:
    """Guesses from one address spread over two gateways block that address on both."""
    cache = {"backend": "redis", "redis_url": redis_server.url, "redis_prefix": redis_prefix}
    gateways = [await make_gateway(cache=cache) for _ in range(2)]
    for i in range(LIMIT):
        async with gateways[i % 2].post(
            LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", WRONG)}
        ) as response:
            assert response.status == 401
    for gateway in gateways:
        async with gateway.post(
            LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
        ) as response:
            assert response.status == 429
            assert int(response.headers[hdrs.RETRY_AFTER]) >= 1


async def test_two_serve_processes_hold_a_client_to_its_rate_in_total(
    start_gateway: StartGateway, redis_server: RedisServer, redis_prefix: str
) -> None:
    """`limited` (rate_limit 5: bursts of 10) bursting 40 requests at two `serve` processes on
    one Redis gets about one burst through in total, not one per process."""
    cache = {
        "backend": "redis",
        "redis_url": redis_server.url,
        "redis_prefix": redis_prefix,
        "redis_timeout": TIMEOUT,
    }
    gateways = [await start_gateway(cache=cache) for _ in range(2)]
    sessions = [aiohttp.ClientSession(gateway.url) for gateway in gateways]

    async def status(session: aiohttp.ClientSession) -> int:
        async with session.get(SEGMENTS, headers=key_header("limited")) as response:
            await response.read()
            return response.status

    try:
        started = time.monotonic()
        statuses: list[Any] = await asyncio.gather(*(status(s) for s in sessions * 20))
        elapsed = time.monotonic() - started
    finally:
        for session in sessions:
            await session.close()
    assert set(statuses) <= {200, 429}
    ok = statuses.count(200)
    # The burst (10), plus what the burst's own duration refills at 5/s; per process it was 20.
    assert 10 <= ok <= 10 + 5 * elapsed + 1, (ok, elapsed)
