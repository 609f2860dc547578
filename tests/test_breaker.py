"""The upstream circuit breaker: its state machine alone, then through the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeConfig, MakeGateway, key_header, until
from processes import poll

from gateway.app import create_app
from gateway.edge.middlewares import CLIENT_GONE
from gateway.edge.runner_options import runner_options
from gateway.errors import CircuitOpen
from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault
from gateway.upstream.bodies import KEEP_LIMIT
from gateway.upstream.breaker import BreakerState, CircuitBreaker

Client = TestClient[Any, Any]
BASE = "/rest/serverengine"
SEGMENTS = f"{BASE}/entity/jobsegments"


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The state, read through a call so mypy does not narrow it across transitions."""
    return breaker.state


def make_breaker(clock: FakeClock, failures: int = 3, cooldown: float = 10) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, cooldown=cooldown, clock=clock)


def test_breaker_opens_after_consecutive_failures(clock: FakeClock) -> None:
    """N consecutive failures open the circuit; an acquire then raises without going out."""
    breaker = make_breaker(clock)
    for _ in range(2):
        breaker.acquire()
        breaker.failure()
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.acquire()
    breaker.failure()
    assert state_of(breaker) is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as raised:
        breaker.acquire()
    assert raised.value.status == 502
    assert raised.value.headers == {"Retry-After": "10"}


def test_breaker_success_resets_the_count(clock: FakeClock) -> None:
    """Failures must be consecutive: one success in between starts the count again."""
    breaker = make_breaker(clock)
    for outcome in ("fail", "fail", "ok", "fail", "fail"):
        breaker.acquire()
        breaker.success() if outcome == "ok" else breaker.failure()
    assert state_of(breaker) is BreakerState.CLOSED


def test_breaker_half_open_lets_exactly_one_probe(clock: FakeClock) -> None:
    """After the cool-down one request probes; others fail fast until it decides."""
    breaker = make_breaker(clock, failures=1)
    breaker.acquire()
    breaker.failure()
    clock.advance(9.9)
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.advance(0.1)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    breaker.acquire()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    breaker.success()
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.acquire()


def test_breaker_failed_probe_reopens_for_a_full_cooldown(clock: FakeClock) -> None:
    """A probe that fails opens the circuit again, counted from the probe's failure."""
    breaker = make_breaker(clock, failures=5)
    for _ in range(5):
        breaker.acquire()
        breaker.failure()
    clock.advance(10)
    breaker.acquire()
    breaker.failure()  # one failure is enough in half-open state
    assert state_of(breaker) is BreakerState.OPEN
    assert breaker.retry_in() == 10
    clock.advance(10)
    breaker.acquire()


def test_breaker_release_hands_the_probe_slot_back(clock: FakeClock) -> None:
    """A probe ending without a verdict (cancelled, login failed) lets the next request probe."""
    breaker = make_breaker(clock, failures=1)
    breaker.acquire()
    breaker.failure()
    clock.advance(10)
    breaker.acquire()
    breaker.release()
    assert state_of(breaker) is BreakerState.HALF_OPEN
    breaker.acquire()


async def get(client: Client, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with client.get(SEGMENTS + path, headers=key_header()) as response:
        return response.status, await response.json(), dict(response.headers)


async def metric(client: Client, name: str) -> float:
    async with client.get("/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def test_breaker_fails_fast_while_open_then_probe_closes_it(
    make_gateway: MakeGateway, simulator: Simulator, clock: FakeClock
) -> None:
    """After N upstream 5xx the gateway stops calling upstream, says so, and recovers by probe."""
    gateway = await make_gateway(upstream={"breaker_failures": 3, "breaker_cooldown": 10})
    simulator.fault = Fault.STATUS_500
    for segment in (1, 2, 3):
        assert (await get(gateway, f"/{segment}"))[0] == 502
    calls = simulator.calls["document_sets"]

    status, body, headers = await get(gateway, "/4")
    assert (status, body["error"]["message"]) == (502, "upstream unavailable (circuit open)")
    assert headers["Retry-After"] == "10"
    assert simulator.calls["document_sets"] == calls  # failed fast: nothing sent
    assert await metric(gateway, "olcg_upstream_breaker_state") == BreakerState.OPEN
    assert await metric(gateway, "olcg_upstream_breaker_rejected_total") == 1
    async with gateway.get("/readyz") as response:
        assert response.status == 503
        assert await response.json() == {
            "status": "unavailable",
            "reason": "upstream unavailable (circuit open)",
            "cause": "circuit_open",
        }

    simulator.fault = None
    clock.advance(10)
    assert (await get(gateway, "/4"))[0] == 200  # the probe
    assert simulator.calls["document_sets"] == calls + 1
    assert await metric(gateway, "olcg_upstream_breaker_state") == BreakerState.CLOSED
    async with gateway.get("/readyz") as response:
        assert response.status == 200


async def test_breaker_timeouts_count_as_failures(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """An upstream slower than upstream.timeout is a failure too: 504s open the circuit."""
    gateway = await make_gateway(upstream={"breaker_failures": 2, "timeout": 0.2})
    simulator.fault = Fault.HANG_AFTER_HEADERS
    assert (await get(gateway, "/1"))[0] == 504
    assert (await get(gateway, "/2"))[0] == 504
    status, body, _ = await get(gateway, "/3")
    assert (status, body["error"]["message"]) == (502, "upstream unavailable (circuit open)")


async def test_breaker_half_open_sends_one_probe_among_concurrent_requests(
    make_gateway: MakeGateway, simulator: Simulator, clock: FakeClock
) -> None:
    """When the cool-down ends under load, exactly one request reaches the upstream."""
    gateway = await make_gateway(upstream={"breaker_failures": 1})
    simulator.fault = Fault.STATUS_500
    assert (await get(gateway, "/1"))[0] == 502
    simulator.fault = None
    simulator.route_latency = {"document_sets": 0.2}  # the probe is still out as others arrive
    clock.advance(10)
    calls = simulator.calls["document_sets"]

    results = await asyncio.gather(*(get(gateway, f"/{segment}") for segment in range(2, 12)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] + [502] * 9
    assert simulator.calls["document_sets"] == calls + 1


async def test_breaker_open_serves_stale_entries(
    make_gateway: MakeGateway, simulator: Simulator, clock: FakeClock, wall_clock: FakeClock
) -> None:
    """With the circuit open, an expired entry within stale_if_error is served STALE."""
    gateway = await make_gateway(upstream={"breaker_failures": 1})
    assert (await get(gateway, "/7"))[0] == 200
    simulator.fault = Fault.STATUS_500
    assert (await get(gateway, "/8"))[0] == 502  # opens the circuit
    wall_clock.advance(301)  # document_sets ttl is 300
    calls = simulator.calls["document_sets"]

    status, body, headers = await get(gateway, "/7")
    assert (status, headers["X-Cache"]) == (200, "STALE")
    assert "identifiers" in body
    assert simulator.calls["document_sets"] == calls


async def test_breaker_ignores_login_failures_and_client_errors(
    make_gateway: MakeGateway, simulator: Simulator, clock: FakeClock
) -> None:
    """Rejected logins keep their own message and backoff; upstream 404s are answers, not faults."""
    gateway = await make_gateway(upstream={"breaker_failures": 2})
    for _ in range(4):
        assert (await get(gateway, "/99999"))[0] == 404
    simulator.reject_logins = True
    simulator.expire_all_tokens()
    for _ in range(4):
        clock.advance(60)  # past every login backoff: each request tries a login
        status, body, _ = await get(gateway, "/5")
        assert (status, body["error"]["message"]) == (502, "upstream authentication failed")
    async with gateway.get("/metrics") as response:
        assert "olcg_upstream_breaker_state 0.0" in await response.text()


async def requests_with_status(client: Client, status: int) -> float:
    """Requests the gateway has answered (or given up on) with `status`, over every route."""
    async with client.get("/metrics") as response:
        text = await response.text()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("olcg_requests_total{") and f'status="{status}"' in line
    )


@pytest.mark.parametrize(
    ("method", "path", "route", "body", "client"),
    [
        ("GET", f"{BASE}/filestore/resources", "filestore.resources", None, "admin"),
        ("PUT", f"{SEGMENTS}/3/metadata", "metadata_put", {"id": 3, "properties": []}, "writer"),
    ],
    ids=["forwarded", "validated_write"],
)
async def test_breaker_ignores_clients_that_hang_up(
    make_gateway: MakeGateway,
    simulator: Simulator,
    method: str,
    path: str,
    route: str,
    body: Any,
    client: str,
) -> None:
    """A client that hangs up while the upstream works on its request cancels it: no verdict
    on the upstream, so even with breaker_failures: 1 the circuit stays closed."""
    gateway = await make_gateway(upstream={"breaker_failures": 1})
    simulator.route_latency[route] = 30.0  # the upstream is still working when the client goes
    url = gateway.make_url(path)
    async with aiohttp.ClientSession() as impatient:
        hanging = asyncio.create_task(
            impatient.request(method, url, json=body, headers=key_header(client))
        )
        await until(lambda: simulator.calls[route] == 1)
        hanging.cancel()  # closes the connection mid-request
        await asyncio.gather(hanging, return_exceptions=True)

    async def cancelled() -> bool | None:  # the gateway's handler has ended (499)
        return True if await requests_with_status(gateway, CLIENT_GONE) == 1 else None

    await poll(cancelled, 5, "the cancelled request to end")
    assert await metric(gateway, "olcg_upstream_breaker_state") == BreakerState.CLOSED
    simulator.route_latency.clear()
    async with gateway.request(method, path, json=body, headers=key_header(client)) as answer:
        assert answer.status == 200


async def test_breaker_ignores_uploads_the_client_aborts(
    make_config: MakeConfig, simulator: Simulator, clock: FakeClock, wall_clock: FakeClock
) -> None:
    """A client that hangs up halfway through a streamed upload broke its own request, not
    the upstream: the circuit stays closed. Served as `serve` does (handlers are not cancelled
    when their client goes), so the upload's failure reaches the upstream client."""
    config = make_config(upstream={"breaker_failures": 1})
    app = create_app(config, clock=clock, wall_clock=wall_clock)
    runner = web.AppRunner(app, handler_cancellation=False, **runner_options(config.server))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        head = (
            f"POST {BASE}/filestore/DataFile?filename=big HTTP/1.1\r\nHost: gateway\r\n"
            f"X-API-Key: {KEYS['admin']}\r\nContent-Length: {4 * KEEP_LIMIT}\r\n\r\n"
        ).encode()
        _reader, writer = await asyncio.open_connection(host, port)
        writer.write(head + b"u" * (2 * KEEP_LIMIT))  # past KEEP_LIMIT: it streams upstream
        await writer.drain()
        await until(lambda: simulator.calls["filestore.upload"] == 1)
        writer.transport.abort()  # gone mid-body
        async with aiohttp.ClientSession(f"http://{host}:{port}") as session:

            async def ended() -> bool | None:  # the aborted upload is logged and counted
                async with session.get("/metrics") as response:
                    text = await response.text()
                return True if 'route="/rest/serverengine/filestore/DataFile"' in text else None

            await poll(ended, 5, "the aborted upload to end")
            async with session.get("/metrics") as response:
                assert "olcg_upstream_breaker_state 0.0" in await response.text()
    finally:
        await runner.cleanup()
