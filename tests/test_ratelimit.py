"""Per-client token buckets: the pure limiter on a fake clock, and 429s through the gateway."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import FakeClock, key_header

from gateway.access.ratelimit import RateLimiter, retry_after

SEGMENTS = "/rest/serverengine/entity/jobsegments"

Client = TestClient[Any, Any]


def drain(limiter: RateLimiter, client: str, rate: float) -> int:
    """Acquire until refused; return how many were allowed."""
    allowed = 0
    while limiter.acquire(client, rate) == 0:
        allowed += 1
        assert allowed < 10_000
    return allowed


def test_limiter_allows_a_burst_of_twice_the_rate(clock: FakeClock) -> None:
    """A fresh bucket holds 2 x rate tokens, then refuses with the wait for the next one."""
    limiter = RateLimiter(clock)
    assert drain(limiter, "a", 5) == 10
    assert limiter.acquire("a", 5) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("elapsed", "allowed"),
    [(0.1, 0), (0.2, 1), (1.0, 5), (1.9, 9), (2.0, 10), (100.0, 10)],
)
def test_limiter_refills_at_the_rate_up_to_the_burst(
    clock: FakeClock, elapsed: float, allowed: int
) -> None:
    """Tokens come back at `rate` per second and never exceed the burst."""
    limiter = RateLimiter(clock)
    drain(limiter, "a", 5)
    clock.advance(elapsed)
    assert drain(limiter, "a", 5) == allowed


@pytest.mark.parametrize(("rate", "wait"), [(0.1, 10.0), (0.25, 4.0), (0.5, 2.0)])
def test_limiter_slow_rate_still_allows_one_request(
    clock: FakeClock, rate: float, wait: float
) -> None:
    """Below 0.5/s the burst is one request (not a fraction that never fills), then 1/rate."""
    limiter = RateLimiter(clock)
    assert drain(limiter, "a", rate) == 1
    assert limiter.acquire("a", rate) == pytest.approx(wait)
    clock.advance(wait)
    assert drain(limiter, "a", rate) == 1


def test_limiter_keeps_clients_apart(clock: FakeClock) -> None:
    """One client's empty bucket does not touch another's."""
    limiter = RateLimiter(clock)
    drain(limiter, "a", 1)
    assert limiter.acquire("b", 1) == 0


def test_limiter_new_rate_starts_a_fresh_bucket(clock: FakeClock) -> None:
    """A reloaded rate_limit gives the client a full bucket at the new rate."""
    limiter = RateLimiter(clock)
    drain(limiter, "a", 1)
    assert drain(limiter, "a", 3) == 6


def test_limiter_forget_others_drops_removed_clients(clock: FakeClock) -> None:
    """After a reload, buckets of removed clients are dropped and come back full."""
    limiter = RateLimiter(clock)
    drain(limiter, "a", 1)
    drain(limiter, "b", 1)
    limiter.forget_others({"b"})
    assert drain(limiter, "a", 1) == 2
    assert limiter.acquire("b", 1) > 0


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0001, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (7.5, "8")]
)
def test_retry_after_whole_seconds_at_least_one(seconds: float, header: str) -> None:
    """Retry-After rounds the wait up to whole seconds, never below 1."""
    assert retry_after(seconds) == header


async def status_of(client: Client, who: str) -> int:
    async with client.get(SEGMENTS, headers=key_header(who)) as response:
        await response.read()
        return response.status


async def test_ratelimit_burst_gets_429_with_retry_after_and_json_error(gateway: Client) -> None:
    """Client `limited` (5/s) gets 10 through, then 429 with Retry-After >= 1 and a JSON Error."""
    statuses = [await status_of(gateway, "limited") for _ in range(10)]
    assert statuses == [200] * 10
    async with gateway.get(SEGMENTS, headers=key_header("limited")) as response:
        assert response.status == 429
        assert int(response.headers[hdrs.RETRY_AFTER]) >= 1
        assert response.content_type == "application/json"
        body = await response.json()
    assert body["error"]["status"] == 429
    assert isinstance(body["error"]["message"], str)


async def test_ratelimit_recovers_after_time_passes(gateway: Client, clock: FakeClock) -> None:
    """After Retry-After seconds the limited client is served again, at its rate."""
    while await status_of(gateway, "limited") != 429:
        pass
    clock.advance(1)
    statuses = [await status_of(gateway, "limited") for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_ratelimit_other_client_unaffected(gateway: Client) -> None:
    """While `limited` is refused, `reader` (no rate_limit) is still served."""
    while await status_of(gateway, "limited") != 429:
        pass
    assert await status_of(gateway, "reader") == 200
    assert await status_of(gateway, "limited") == 429


async def test_ratelimit_clients_without_limit_never_limited(gateway: Client) -> None:
    """A client without rate_limit is never answered 429, however fast it asks."""
    statuses = {await status_of(gateway, "reader") for _ in range(60)}
    assert statuses == {200}


async def test_ratelimit_bad_key_is_refused_before_the_limiter(gateway: Client) -> None:
    """Unknown keys get 403, not 429, and do not drain anyone's bucket."""
    for _ in range(20):
        async with gateway.get(SEGMENTS, headers={"X-API-Key": "nope"}) as response:
            assert response.status == 403
    assert await status_of(gateway, "limited") == 200
