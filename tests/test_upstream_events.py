"""Upstream failure events: one per kind and route, rate-limited, with the cause; breaker moves."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway, key_header

from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault
from gateway.telemetry.log import configure_logging
from gateway.upstream.events import UpstreamEvents

Client = TestClient[Any, Any]
SEGMENTS = "/rest/serverengine/entity/jobsegments"
SEGMENT_ROUTE = SEGMENTS + "/{id}"  # the upstream route label: its catalogue template

# fault → the cause named in the event (and in /readyz).
CAUSES = {
    Fault.STATUS_500: "status_5xx",
    Fault.DROP: "connection_reset",
    Fault.RESET_MID_BODY: "connection_reset",
    Fault.HANG_AFTER_HEADERS: "timeout",
    Fault.REDIRECT: "redirect",
    Fault.TRUNCATED_JSON: "invalid_answer",
    Fault.NON_JSON: "invalid_answer",
    Fault.WRONG_CONTENT_TYPE: "invalid_answer",
    Fault.UNAUTHORIZED: "token_refused",
}


def events(log_output: io.StringIO, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    return [line for line in lines if line["event"] == name]


async def get_segment(client: Client, segment: int) -> int:
    async with client.get(f"{SEGMENTS}/{segment}", headers=key_header()) as response:
        return response.status


async def readiness_cause(client: Client) -> str:
    async with client.get("/readyz") as response:
        assert response.status == 503
        return str((await response.json())["cause"])


def test_upstream_events_first_then_one_per_interval_with_suppressed_count(
    clock: FakeClock, log_output: io.StringIO
) -> None:
    """The first failure of a kind is logged; repeats within the interval only count."""
    told: list[str] = []
    upstream_events = UpstreamEvents(interval=60, clock=clock, on_failure=told.append)
    for _ in range(100):
        upstream_events.failure(SEGMENT_ROUTE, "timeout")
    upstream_events.failure("metadata", "timeout")  # another route: its own first event
    clock.advance(59)
    upstream_events.failure(SEGMENT_ROUTE, "timeout")
    clock.advance(1)
    upstream_events.failure(SEGMENT_ROUTE, "timeout")
    logged = events(log_output, "upstream_failed")
    assert [(e["route"], e["suppressed"]) for e in logged] == [
        (SEGMENT_ROUTE, 0),
        ("metadata", 0),
        (SEGMENT_ROUTE, 100),
    ]
    assert all(e["level"] == "warning" and e["cause"] == "timeout" for e in logged)
    assert len(told) == 103  # readiness hears every failure, logged or not


@pytest.mark.parametrize("fault", list(CAUSES), ids=str)
async def test_upstream_events_name_the_cause_of_each_fault(
    make_gateway: MakeGateway, simulator: Simulator, log_output: io.StringIO, fault: Fault
) -> None:
    """Each upstream fault logs one `upstream_failed` naming the route and its cause."""
    gateway = await make_gateway(upstream={"timeout": 0.3})
    assert await get_segment(gateway, 1) == 200
    simulator.fault = fault
    assert await get_segment(gateway, 2) in (502, 504)
    [event] = events(log_output, "upstream_failed")
    assert (event["route"], event["cause"]) == (SEGMENT_ROUTE, CAUSES[fault])
    assert await readiness_cause(gateway) == CAUSES[fault]


async def test_upstream_events_unreachable_upstream_at_login(
    make_gateway: MakeGateway, log_output: io.StringIO, unused_tcp_port: int
) -> None:
    """A login that cannot connect is named as a refused connection, at the login stage."""
    gateway = await make_gateway(upstream={"url": f"http://127.0.0.1:{unused_tcp_port}"})
    assert await get_segment(gateway, 1) == 502
    [event] = events(log_output, "upstream_failed")
    assert (event["route"], event["cause"], event["stage"]) == (
        SEGMENT_ROUTE,
        "connection_refused",
        "login",
    )


async def test_upstream_events_rejected_login_is_its_own_cause(
    gateway: Client, simulator: Simulator, log_output: io.StringIO
) -> None:
    """The upstream refusing the gateway's credentials is `login_rejected`, never a secret."""
    simulator.reject_logins = True
    assert await get_segment(gateway, 1) == 502
    [event] = events(log_output, "upstream_failed")
    assert (event["cause"], event["stage"]) == ("login_rejected", "login")
    logged = log_output.getvalue()
    for secret in ['"secret"', *KEYS.values()]:
        assert secret not in logged


async def test_upstream_events_an_outage_is_not_a_log_flood(
    make_gateway: MakeGateway, simulator: Simulator, clock: FakeClock, log_output: io.StringIO
) -> None:
    """Fifty failing requests log one event; the next, a minute later, says 49 were left out."""
    gateway = await make_gateway(upstream={"breaker_failures": 1000})
    simulator.fault = Fault.STATUS_500
    for segment in range(1, 51):
        assert await get_segment(gateway, segment) == 502
    assert [e["suppressed"] for e in events(log_output, "upstream_failed")] == [0]
    clock.advance(60)
    assert await get_segment(gateway, 51) == 502
    logged = events(log_output, "upstream_failed")
    assert [(e["suppressed"], e["status"]) for e in logged] == [(0, 500), (49, 500)]


async def test_upstream_events_breaker_transitions(
    make_gateway: MakeGateway, simulator: Simulator, clock: FakeClock, log_output: io.StringIO
) -> None:
    """Opening, half-opening and closing the circuit are logged once each, old and new state."""
    gateway = await make_gateway(upstream={"breaker_failures": 2, "breaker_cooldown": 10})
    simulator.fault = Fault.STATUS_500
    for segment in (1, 2, 3, 4):
        assert await get_segment(gateway, segment) == 502
    simulator.fault = None
    clock.advance(10)
    assert await get_segment(gateway, 5) == 200
    moves = [(e["old"], e["new"], e["level"]) for e in events(log_output, "upstream_breaker")]
    assert moves == [
        ("closed", "open", "warning"),
        ("open", "half_open", "info"),
        ("half_open", "closed", "info"),
    ]


def test_upstream_events_console_format_names_route_and_cause(clock: FakeClock) -> None:
    """In console format the event reads as one line with the route and the cause."""
    stream = io.StringIO()
    configure_logging("info", "console", stream, cache_loggers=False)
    try:
        UpstreamEvents(clock=clock).failure("metadata", "connection_refused", stage="login")
    finally:
        structlog.reset_defaults()
    (line,) = stream.getvalue().splitlines()
    assert "upstream_failed" in line
    assert "route=metadata" in line
    assert "cause=connection_refused" in line
