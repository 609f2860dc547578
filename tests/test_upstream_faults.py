"""Upstream faults through the gateway: clean errors, nothing leaked, nothing cached, no crash.

Dropped connections, 500s and 401-on-every-request have their own tests in
test_tokens.py; here every fault also has to stay out of the cache.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import FakeClock, MakeGateway, key_header

from gateway.simulator import Simulator
from gateway.simulator.model.filestore import CHUNK as SIM_CHUNK
from gateway.simulator.model.state import Fault

Client = TestClient[Any, Any]
SEGMENTS = "/rest/serverengine/entity/jobsegments"
# upstream.timeout where a test waits for it (a hang costs this much).
TIMEOUT = 1.0
# upstream.timeout where a fault is answered at once: no machine, however loaded, takes
# this long, so the fault's own answer decides (a drop, which aiohttp retries once, took
# 1.3 s on a busy CI box and became a 504).
NEVER = 30.0

# fault → the status the client sees.
FAULTS = {
    Fault.RESET_MID_BODY: 502,
    Fault.TRUNCATED_JSON: 502,
    Fault.NON_JSON: 502,
    Fault.WRONG_CONTENT_TYPE: 502,
    Fault.HANG_AFTER_HEADERS: 504,
    Fault.REDIRECT: 502,
    Fault.DROP: 502,
    Fault.STATUS_500: 502,
    Fault.UNAUTHORIZED: 502,
}
SAFE_MESSAGES = {
    "upstream unavailable",
    "upstream timed out",
    "upstream sent an invalid answer",
    "upstream refused the gateway's session",
}


async def fetch(client: Client, path: str) -> tuple[int, bytes, dict[str, str]]:
    async with client.get(path, headers=key_header()) as response:
        return response.status, await response.read(), dict(response.headers)


def assert_clean_error(
    status: int, body: bytes, headers: dict[str, str], expected: int, upstream: TestServer
) -> None:
    """A JSON Error with a safe message and nothing about the upstream in it."""
    assert status == expected
    assert headers["Content-Type"].startswith("application/json")
    assert "X-Request-ID" in headers
    assert "Location" not in headers
    text = body.decode()
    for detail in (str(upstream.port), "127.0.0.1", "Traceback", "Error:", "html", "Maintenance"):
        assert detail not in text
    for value in headers.values():
        assert str(upstream.port) not in value
    error = json.loads(body)["error"]
    assert error["status"] == expected
    assert error["message"] in SAFE_MESSAGES


@pytest.mark.parametrize("fault", list(FAULTS), ids=str)
@pytest.mark.parametrize("route", ["", "/metadata"], ids=["document_sets", "metadata"])
async def test_upstream_fault_answers_cleanly_and_is_not_cached(
    make_gateway: MakeGateway,
    simulator: Simulator,
    simulator_server: TestServer,
    fault: Fault,
    route: str,
) -> None:
    """A fault gives a clean 502/504, and once it is lifted the same entry is a MISS, then HIT."""
    timeout = TIMEOUT if fault is Fault.HANG_AFTER_HEADERS else NEVER
    gateway = await make_gateway(upstream={"timeout": timeout})
    await fetch(gateway, f"{SEGMENTS}/1")  # log in while the upstream is healthy
    simulator.fault = fault
    path = f"{SEGMENTS}/5{route}"

    status, body, headers = await fetch(gateway, path)
    assert_clean_error(status, body, headers, FAULTS[fault], simulator_server)

    simulator.fault = None
    status, _, headers = await fetch(gateway, path)
    assert (status, headers["X-Cache"]) == (200, "MISS")
    status, _, headers = await fetch(gateway, path)
    assert (status, headers["X-Cache"]) == (200, "HIT")
    async with gateway.get("/healthz") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "fault",
    [Fault.RESET_MID_BODY, Fault.TRUNCATED_JSON, Fault.NON_JSON, Fault.WRONG_CONTENT_TYPE],
    ids=str,
)
async def test_upstream_fault_never_replaces_a_good_entry(
    make_gateway: MakeGateway, simulator: Simulator, wall_clock: FakeClock, fault: Fault
) -> None:
    """An expired good entry is served STALE through a fault, and stays the good one."""
    gateway = await make_gateway()
    status, good, _ = await fetch(gateway, f"{SEGMENTS}/9")
    assert status == 200
    wall_clock.advance(301)  # past cache.ttl.document_sets, within stale_if_error
    simulator.fault = fault

    for _ in range(2):
        status, body, headers = await fetch(gateway, f"{SEGMENTS}/9")
        assert (status, headers["X-Cache"], body) == (200, "STALE", good)


async def test_upstream_hang_after_headers_is_504_within_the_timeout(
    make_gateway: MakeGateway, simulator: Simulator, simulator_server: TestServer
) -> None:
    """Headers then silence: the gateway gives up after upstream.timeout, not later."""
    gateway = await make_gateway(upstream={"timeout": TIMEOUT})
    await fetch(gateway, f"{SEGMENTS}/1")
    simulator.fault = Fault.HANG_AFTER_HEADERS

    started = time.monotonic()
    status, body, headers = await fetch(gateway, f"{SEGMENTS}/version")
    elapsed = time.monotonic() - started
    assert_clean_error(status, body, headers, 504, simulator_server)
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 1.0


async def test_upstream_redirect_is_not_followed(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """A 3xx is an upstream error: the gateway neither follows it nor hands it on."""
    gateway = await make_gateway()
    await fetch(gateway, f"{SEGMENTS}/1")
    simulator.fault = Fault.REDIRECT
    before = sum(simulator.calls.values())

    status, _, headers = await fetch(gateway, SEGMENTS)
    assert status == 502
    assert "Location" not in headers
    assert sum(simulator.calls.values()) == before + 1  # the one request, nothing after it


async def test_upstream_reset_mid_body_on_put_drops_cached_metadata(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """A PUT whose answer is cut off is a 502, and the cached metadata is dropped anyway."""
    gateway = await make_gateway()
    path = f"{SEGMENTS}/3/metadata"
    assert (await fetch(gateway, path))[0] == 200
    simulator.fault = Fault.RESET_MID_BODY
    body = {"id": 3, "properties": [{"name": "k", "value": "v"}]}
    async with gateway.put(path, json=body, headers=key_header("writer")) as response:
        assert response.status == 502
    simulator.fault = None
    status, _, headers = await fetch(gateway, path)
    assert (status, headers["X-Cache"]) == (200, "MISS")


@pytest.mark.parametrize(
    "fault", [Fault.TRUNCATED_JSON, Fault.NON_JSON, Fault.WRONG_CONTENT_TYPE], ids=str
)
async def test_upstream_put_without_true_is_not_acknowledged(
    make_gateway: MakeGateway, simulator: Simulator, simulator_server: TestServer, fault: Fault
) -> None:
    """A PUT answered 200 with anything but OL Connect's `true` is a 502, never a false 200."""
    gateway = await make_gateway()
    await fetch(gateway, f"{SEGMENTS}/1")
    simulator.fault = fault
    body = {"id": 4, "properties": [{"name": "k", "value": "v"}]}
    async with gateway.put(
        f"{SEGMENTS}/4/metadata", json=body, headers=key_header("writer")
    ) as response:
        raw = await response.read()
        assert_clean_error(response.status, raw, dict(response.headers), 502, simulator_server)
    assert {"name": "k", "value": "v"} not in simulator.metadata(4)  # indeed not written


async def test_upstream_stages_each_inside_the_timeout_are_no_timeout(
    make_gateway: MakeGateway, simulator: Simulator, simulator_server: TestServer
) -> None:
    """A login and an exchange each inside upstream.timeout but longer together: the client
    gets the exchange's own outcome (a truncated body: 502), not a 504 from a wait around
    both — upstream.timeout bounds each upstream request, not their sum."""
    gateway = await make_gateway(upstream={"timeout": TIMEOUT})
    simulator.route_latency = {"login": 0.6 * TIMEOUT, "metadata_get": 0.6 * TIMEOUT}
    simulator.fault = Fault.TRUNCATED_JSON
    status, body, headers = await fetch(gateway, f"{SEGMENTS}/5/metadata")
    assert_clean_error(status, body, headers, 502, simulator_server)
    assert json.loads(body)["error"]["message"] == "upstream sent an invalid answer"


async def test_upstream_cached_read_waiting_for_a_slot_is_503(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """With every upstream slot held past upstream.timeout, a cached read answers 503 +
    Retry-After as forwarded routes do (SPEC 8.2), not a 504: no upstream was slow."""
    file_id = simulator.generate_file("slow.bin", 20 * SIM_CHUNK)
    simulator.download_delay = 0.1  # per chunk: the download moves, and holds its slot ~2 s
    timeout = 0.4
    gateway = await make_gateway(upstream={"max_connections": 1, "timeout": timeout})
    async with gateway.get(
        f"/rest/serverengine/filestore/file/{file_id}", headers=key_header("admin")
    ) as download:
        assert download.status == 200
        started = time.monotonic()
        status, body, headers = await fetch(gateway, f"{SEGMENTS}/5")
        assert time.monotonic() - started >= timeout * 0.9
        assert (status, headers["Retry-After"]) == (503, "1")
        assert json.loads(body)["error"]["message"] == "upstream busy: too many requests in flight"
    assert simulator.calls["document_sets"] == 0


async def test_upstream_timeouts_are_counted_under_their_route(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """A hang is an upstream request of its route with the outcome `timeout` in the metrics."""
    gateway = await make_gateway(upstream={"timeout": 0.2})
    await fetch(gateway, f"{SEGMENTS}/1")
    simulator.fault = Fault.HANG_AFTER_HEADERS
    assert (await fetch(gateway, f"{SEGMENTS}/2"))[0] == 504
    async with gateway.get("/metrics") as response:
        text = await response.text()
    series = f'olcg_upstream_requests_total{{route="{SEGMENTS}/{{id}}",status="timeout"}} 1.0'
    assert series in text.splitlines()


async def test_upstream_refusing_every_token_says_so(
    make_gateway: MakeGateway, simulator: Simulator, simulator_server: TestServer
) -> None:
    """401 to the token, and again after a fresh login: a 502 that says the session was
    refused (not a generic one)."""
    gateway = await make_gateway()
    await fetch(gateway, f"{SEGMENTS}/1")
    simulator.fault = Fault.UNAUTHORIZED
    status, body, headers = await fetch(gateway, f"{SEGMENTS}/2")
    assert_clean_error(status, body, headers, 502, simulator_server)
    assert json.loads(body)["error"]["message"] == "upstream refused the gateway's session"
