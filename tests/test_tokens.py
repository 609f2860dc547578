"""The upstream token lifecycle, observed through the gateway and the simulator's counters."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import (
    FakeClock,
    MakeConfig,
    MakeGateway,
    MakeGatewayFor,
    MakeSimulator,
    key_header,
    until,
)

from gateway.simulator import Fault, Simulator
from gateway.state import TOKENS

SEGMENTS = "/rest/serverengine/entity/jobsegments"
READER = key_header("reader")


def segment(n: int) -> str:
    return f"{SEGMENTS}/{n}"


async def test_tokens_concurrent_first_requests_log_in_once(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """50 concurrent first requests cause exactly one upstream login."""
    responses = await asyncio.gather(
        *(gateway.get(segment(n), headers=READER) for n in range(1, 51))
    )
    assert [r.status for r in responses] == [200] * 50
    assert simulator.calls["login"] == 1
    assert simulator.calls["document_sets"] == 50


async def test_tokens_expired_mid_traffic_relogin_once(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """Every token expiring mid-traffic costs exactly one extra login and no client error."""
    assert (await gateway.get(segment(1), headers=READER)).status == 200
    simulator.expire_all_tokens()
    responses = await asyncio.gather(
        *(gateway.get(segment(n), headers=READER) for n in range(2, 42))
    )
    assert [r.status for r in responses] == [200] * 40
    assert simulator.calls["login"] == 2


async def test_tokens_renewed_before_expiry_without_client_errors(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor, clock: FakeClock
) -> None:
    """Token-Expires-In: 2 with refresh_before: 1 renews in the background before expiry."""
    sim = make_simulator(token_ttl=2)
    gateway = await make_gateway_for(sim, upstream={"refresh_before": 1})
    assert (await gateway.get(segment(1), headers=READER)).status == 200
    assert sim.calls["login"] == 1
    clock.advance(1.5)  # inside the renewal window: answered at once, renewal in background
    assert (await gateway.get(segment(2), headers=READER)).status == 200
    assert gateway.app is not None
    tokens = gateway.app[TOKENS]
    await until(lambda: tokens.seconds_left() > 1.0)  # the renewed token is in place
    assert sim.calls["login"] == 2
    clock.advance(0.9)  # the first token is now expired upstream; the renewed one is not
    assert (await gateway.get(segment(3), headers=READER)).status == 200
    assert sim.calls["login"] == 2
    assert sim.calls["document_sets"] == 3  # no request needed a retry


async def test_tokens_without_expiry_header_use_token_ttl(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor, clock: FakeClock
) -> None:
    """A login answer without Token-Expires-In (pre-2025 servers) lives upstream.token_ttl."""
    sim = make_simulator(send_token_expiry=False)
    gateway = await make_gateway_for(sim, upstream={"token_ttl": 100, "refresh_before": 0})
    assert (await gateway.get(segment(1), headers=READER)).status == 200
    clock.advance(99)
    assert (await gateway.get(segment(2), headers=READER)).status == 200
    assert sim.calls["login"] == 1
    clock.advance(2)
    assert (await gateway.get(segment(3), headers=READER)).status == 200
    assert sim.calls["login"] == 2


async def test_tokens_rejected_login_is_502_with_backoff(
    gateway: TestClient[Any, Any], simulator: Simulator, clock: FakeClock
) -> None:
    """A rejected login gives 502 "upstream authentication failed" and logins back off."""
    simulator.reject_logins = True
    for n in range(1, 21):
        response = await gateway.get(segment(n), headers=READER)
        assert response.status == 502
        body = await response.json()
        assert body["error"]["message"] == "upstream authentication failed"
    assert simulator.calls["login"] == 1
    assert simulator.calls["document_sets"] == 0
    simulator.reject_logins = False
    clock.advance(1)  # past the first backoff step
    assert (await gateway.get(segment(1), headers=READER)).status == 200
    assert simulator.calls["login"] == 2


async def test_tokens_backoff_grows_between_failed_logins(
    gateway: TestClient[Any, Any], simulator: Simulator, clock: FakeClock
) -> None:
    """Each failed login doubles the wait before the next attempt, up to a cap."""
    simulator.reject_logins = True
    attempts = []
    for _ in range(8):
        clock.advance(0.6)
        await gateway.get(segment(1), headers=READER)
        attempts.append(simulator.calls["login"])
    # 0.5 s, then 1 s, 2 s, ...: attempts at 0.6, 1.2, 2.4 and 4.8 s of fake time.
    assert attempts == [1, 2, 2, 3, 3, 3, 3, 4]


async def test_tokens_401_on_every_request_retries_once_then_502(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """An upstream that refuses every token gets one re-login and one retry, then 502."""
    simulator.fault = Fault.UNAUTHORIZED
    response = await gateway.get(segment(1), headers=READER)
    assert response.status == 502
    assert simulator.calls["login"] == 2
    assert simulator.calls["document_sets"] == 2


async def test_tokens_unreachable_upstream_is_502(
    make_gateway: MakeGateway, make_config: MakeConfig, unused_tcp_port: int
) -> None:
    """An upstream that refuses connections answers 502 without internal detail."""
    config = make_config(upstream={"url": f"http://127.0.0.1:{unused_tcp_port}"})
    gateway = await make_gateway(config)
    response = await gateway.get(segment(1), headers=READER)
    assert response.status == 502
    text = await response.text()
    assert str(unused_tcp_port) not in text
    assert "127.0.0.1" not in text


async def test_tokens_slow_upstream_is_504(
    make_gateway: MakeGateway, make_config: MakeConfig, simulator: Simulator
) -> None:
    """An upstream slower than upstream.timeout answers 504."""
    gateway = await make_gateway(make_config(upstream={"timeout": 0.2}))
    assert (await gateway.get(segment(1), headers=READER)).status == 200
    simulator.route_latency["document_sets"] = 1.0
    response = await gateway.get(segment(2), headers=READER)
    assert response.status == 504
    assert (await response.json())["error"]["status"] == 504


async def test_tokens_dropped_connection_is_502(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """An upstream that drops the connection answers 502."""
    assert (await gateway.get(segment(1), headers=READER)).status == 200
    simulator.fault = Fault.DROP
    response = await gateway.get(segment(2), headers=READER)
    assert response.status == 502


async def test_tokens_upstream_5xx_is_502(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """An upstream 500 answers 502 with the gateway's own JSON Error."""
    simulator.fault = Fault.STATUS_500
    response = await gateway.get(segment(2), headers=READER)
    assert response.status == 502
    assert (await response.json())["error"]["message"] == "upstream unavailable"
