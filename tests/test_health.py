"""/healthz (the process serves) and /readyz (the upstream answers now, whatever token is held)."""

from __future__ import annotations

import asyncio
import io
import math
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway, key_header

from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault
from gateway.upstream.readiness import FRESH

Client = TestClient[Any, Any]
SEGMENTS = "/rest/serverengine/entity/jobsegments"


async def readiness(client: Client) -> tuple[int, dict[str, Any]]:
    async with client.get("/readyz") as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def test_healthz_ok_without_key_even_when_upstream_down(
    make_gateway: MakeGateway, unused_tcp_port: int
) -> None:
    """/healthz answers 200 {"status": "ok"} with no key, whatever the upstream does."""
    gateway = await make_gateway(upstream={"url": f"http://127.0.0.1:{unused_tcp_port}"})
    async with gateway.get("/healthz") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"status": "ok"}


async def test_readyz_ready_after_logging_in(gateway: Client, simulator: Simulator) -> None:
    """/readyz logs in when no token is held and answers 200; later probes reuse the token."""
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert simulator.calls["login"] == 1


async def test_readyz_flips_to_503_when_logins_are_rejected_and_back(
    gateway: Client, simulator: Simulator, clock: FakeClock, log_output: io.StringIO
) -> None:
    """Once the token expires and logins are rejected, 503 names the reason; it recovers."""
    assert (await readiness(gateway))[0] == 200
    simulator.reject_logins = True
    clock.advance(3600)  # the token the gateway holds (and the simulator issued) expires

    status, body = await readiness(gateway)
    assert status == 503
    assert body == {
        "status": "unavailable",
        "reason": "upstream authentication failed",
        "cause": "login_rejected",
    }
    # Backing off: probes fail fast without hammering the upstream's login.
    assert (await readiness(gateway))[0] == 503
    assert simulator.calls["login"] == 2

    simulator.reject_logins = False
    clock.advance(1)  # past the first login backoff
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert simulator.calls["login"] == 3

    logged = log_output.getvalue()
    assert "upstream_login_failed" in logged
    for secret in [*simulator.issued_tokens(), '"secret"', *KEYS.values()]:
        assert secret not in logged


async def test_readyz_503_when_upstream_unreachable(
    make_gateway: MakeGateway, unused_tcp_port: int
) -> None:
    """An upstream that refuses connections makes /readyz 503 with the reason."""
    gateway = await make_gateway(upstream={"url": f"http://127.0.0.1:{unused_tcp_port}"})
    assert await readiness(gateway) == (
        503,
        {"status": "unavailable", "reason": "upstream unavailable", "cause": "connection_refused"},
    )


async def test_readyz_ready_while_token_held_even_if_logins_rejected(
    gateway: Client, simulator: Simulator
) -> None:
    """A valid token is enough: rejecting new logins does not flip readiness early."""
    assert (await readiness(gateway))[0] == 200
    simulator.reject_logins = True
    assert (await readiness(gateway))[0] == 200


async def get_segment(client: Client, segment: int) -> int:
    async with client.get(f"{SEGMENTS}/{segment}", headers=key_header()) as response:
        return response.status


async def test_readyz_503_while_upstream_fails_although_a_token_is_held(
    gateway: Client, simulator: Simulator, clock: FakeClock
) -> None:
    """A failing upstream makes /readyz 503 at once, token or not, without an extra call."""
    assert (await readiness(gateway))[0] == 200
    simulator.fault = Fault.STATUS_500
    assert await get_segment(gateway, 1) == 502
    calls = dict(simulator.calls)
    status, body = await readiness(gateway)
    assert (status, body["cause"]) == (503, "status_5xx")
    assert dict(simulator.calls) == calls  # the failed request told it: no probe, no login
    clock.advance(0.5)
    assert (await readiness(gateway))[0] == 503
    assert dict(simulator.calls) == calls


async def test_readyz_back_to_200_on_the_first_success(
    gateway: Client, simulator: Simulator
) -> None:
    """One request the upstream answers makes the gateway ready again, with no probe."""
    simulator.fault = Fault.DROP
    assert await get_segment(gateway, 1) == 502
    assert (await readiness(gateway))[0] == 503
    simulator.fault = None
    assert await get_segment(gateway, 2) == 200
    handshakes = simulator.calls["handshake"]
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert simulator.calls["handshake"] == handshakes


async def test_readyz_probes_an_idle_upstream_with_backoff(
    gateway: Client, simulator: Simulator, clock: FakeClock
) -> None:
    """Without traffic a probe decides; while it fails, probes are spaced 1, 2, 4 ... s apart."""
    assert (await readiness(gateway))[0] == 200
    probes = simulator.calls["handshake"]
    simulator.fault = Fault.STATUS_500
    assert (await readiness(gateway))[0] == 200  # a fresh success is trusted
    assert simulator.calls["handshake"] == probes

    clock.advance(FRESH)
    status, body = await readiness(gateway)
    assert (status, body["cause"]) == (503, "status_5xx")
    assert simulator.calls["handshake"] == probes + 1
    sent = []
    for _ in range(8):  # 8 s of probes every 0.5 s: one probe after 1 s, 2 s and 4 s
        clock.advance(0.5)
        assert (await readiness(gateway))[0] == 503
        sent.append(simulator.calls["handshake"] - probes)
    assert sent == [1, 2, 2, 2, 2, 3, 3, 3]

    simulator.fault = None
    clock.advance(4)
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert simulator.calls["handshake"] == probes + 4


async def test_readyz_stays_503_when_the_breaker_half_opens_on_a_dead_upstream(
    make_gateway: MakeGateway, simulator: Simulator, clock: FakeClock
) -> None:
    """After the cool-down the circuit half-opens, but /readyz waits for a success."""
    gateway = await make_gateway(upstream={"breaker_failures": 1, "breaker_cooldown": 10})
    simulator.fault = Fault.STATUS_500
    assert await get_segment(gateway, 1) == 502
    status, body = await readiness(gateway)
    assert (status, body["cause"]) == (503, "circuit_open")

    clock.advance(10)  # half-open: the readiness probe is the breaker's probe, and fails
    status, body = await readiness(gateway)
    assert (status, body["cause"]) == (503, "status_5xx")
    assert (await readiness(gateway))[1]["cause"] == "circuit_open"

    simulator.fault = None
    clock.advance(10)
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert await get_segment(gateway, 2) == 200  # the probe closed the circuit


async def test_readyz_concurrent_calls_share_one_probe(
    gateway: Client, simulator: Simulator
) -> None:
    """Many simultaneous /readyz calls send one probe upstream and all get its verdict."""
    simulator.route_latency = {"handshake": 0.2}
    results = await asyncio.gather(*(readiness(gateway) for _ in range(10)))
    assert {status for status, _ in results} == {200}
    assert simulator.calls["handshake"] == 1
    assert simulator.calls["login"] == 1


async def upstream_ready_metric(client: Client) -> float:
    async with client.get("/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith("olcg_upstream_ready "):
                return float(line.split()[1])
    raise AssertionError("olcg_upstream_ready not exported")


async def test_readiness_metric_follows_the_last_outcome(
    gateway: Client, simulator: Simulator
) -> None:
    """olcg_upstream_ready is NaN before any upstream exchange, then 1 or 0 as /readyz says."""
    assert math.isnan(await upstream_ready_metric(gateway))
    assert await get_segment(gateway, 1) == 200
    assert await upstream_ready_metric(gateway) == 1
    simulator.fault = Fault.STATUS_500
    assert await get_segment(gateway, 2) == 502
    assert await upstream_ready_metric(gateway) == 0
    assert simulator.calls["handshake"] == 0  # a scrape never probes
