"""SPEC §10.3 and issue 23 F3: a client's mistake or hang-up is the client's, never an outage.

An upstream 5xx with an OL Connect JSON Error is the server's answer to a bad
request: passed back on forwarded routes, 502 on cached ones, and it neither
opens the circuit breaker nor makes /readyz fail. A proxy's HTML 502 page or
a crash page does. Hang-ups are tried against the production runner
(`served.py`): aiohttp's test server cancels a handler whose client hangs up,
`serve` does not — the handler then meets the broken body itself.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import KEYS, MakeConfig, MakeGateway, key_header, until
from served import Serve, Served, serve_fixture  # noqa: F401 - the fixture

from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault
from gateway.state import BODIES, UPSTREAM
from gateway.upstream.breaker import BreakerState
from gateway.upstream.decoding import decoded, is_json_error

Client = TestClient[Any, Any]
BASE = "/rest/serverengine"
BAD_RECORD = f"{BASE}/entity/datarecords/99999/values"  # cached read: OL Connect's 500
BAD_TYPE = f"{BASE}/filestore/resources?type=NOSUCH"  # forwarded: OL Connect's 500 too
SEGMENT = f"{BASE}/entity/jobsegments/1"
RESOURCES = f"{BASE}/filestore/resources"  # forwarded GET
UPLOAD = f"{BASE}/filestore/DataFile?filename=big.bin"
MIB = 1024 * 1024
FAILURES = 5  # upstream.breaker_failures in these tests


Session = Client | aiohttp.ClientSession


def app_of(client: Client) -> web.Application:
    app: web.Application | None = client.app
    assert app is not None
    return app


async def status_of(client: Session, method: str, path: str, **kwargs: Any) -> int:
    async with client.request(method, path, **kwargs) as response:
        await response.read()
        return response.status


async def assert_still_up(client: Session, breaker_state: BreakerState) -> None:
    """The breaker is closed, /readyz says ready, and another client's read is answered."""
    assert breaker_state is BreakerState.CLOSED
    async with client.get("/readyz") as response:
        assert response.status == 200, await response.text()
    assert await status_of(client, "GET", SEGMENT, headers=key_header("writer")) == 200


async def test_bad_requests_answered_500_json_error_are_no_outage(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """Twice the breaker's threshold of reads OL Connect answers 500 + JSON Error (an
    unknown data-record id, an unknown resource type) leave it closed and /readyz ready."""
    gateway = await make_gateway(upstream={"breaker_failures": FAILURES})
    upstream = app_of(gateway)[UPSTREAM]
    for _ in range(FAILURES):
        async with gateway.get(BAD_RECORD, headers=key_header()) as response:
            assert response.status == 502  # a cached route: SPEC §5's mapping
            body = await response.json()
            assert body["error"]["message"] == "upstream answered with an error"
    for _ in range(FAILURES):
        async with gateway.get(BAD_TYPE, headers=key_header("admin")) as response:
            assert response.status == 500  # a forwarded route: the answer as it is
            assert response.content_type == "application/json"
            error = (await response.json())["error"]
            assert (error["status"], error["parameter"]) == (500, "NOSUCH")
    assert simulator.calls["datarecords.values_get"] == FAILURES  # never cached, never refused
    await assert_still_up(gateway, upstream.breaker.state)


@pytest.mark.parametrize("fault", [Fault.PROXY_502, Fault.STATUS_500], ids=str)
@pytest.mark.parametrize("path", [SEGMENT, RESOURCES], ids=["cached", "forwarded"])
async def test_5xx_pages_without_a_json_error_open_the_breaker(
    make_gateway: MakeGateway, simulator: Simulator, fault: Fault, path: str
) -> None:
    """A proxy's HTML 502 or a crash page is an outage; on a forwarded route it passes back too."""
    gateway = await make_gateway(upstream={"breaker_failures": FAILURES})
    simulator.fault = fault
    expected = 502 if path == SEGMENT else (502 if fault is Fault.PROXY_502 else 500)
    for _ in range(FAILURES):
        async with gateway.get(path, headers=key_header("admin")) as response:
            assert response.status == expected
            if path == RESOURCES:
                assert response.content_type == "text/html"  # the upstream's page, as it is
    assert app_of(gateway)[UPSTREAM].breaker.state is BreakerState.OPEN
    async with gateway.get("/readyz") as response:
        assert response.status == 503


async def hang_up_mid_upload(gateway: Served, simulator: Simulator, size: int) -> None:
    """Send half of a ``size``-byte upload, wait until it reaches OL Connect, then hang up."""
    before = simulator.calls["filestore.upload"]
    _, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    head = (
        f"POST {UPLOAD} HTTP/1.1\r\nHost: gw\r\nX-API-Key: {KEYS['admin']}\r\n"
        f"Content-Length: {size}\r\n\r\n"
    )
    writer.write(head.encode() + b"x" * (size // 2))
    await writer.drain()
    await until(lambda: simulator.calls["filestore.upload"] > before)
    writer.close()


async def hang_up_mid_download(gateway: Served, file_id: int) -> None:
    """Start a download, read its head and a little of the body, then hang up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        f"GET {BASE}/filestore/file/{file_id} HTTP/1.1\r\nHost: gw\r\n"
        f"X-API-Key: {KEYS['admin']}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
    await reader.readexactly(64 * 1024)
    writer.transport.abort()  # a reset, as a killed client sends


async def served_and_idle(gateway: Served) -> None:
    """Wait until every request has left the gateway: no slot taken, no body held."""
    upstream = gateway.app[UPSTREAM]
    await until(lambda: upstream.slots.pending == 0 and gateway.app[BODIES].held == 0)


async def test_client_hang_ups_mid_upload_and_download_are_no_outage(
    serve: Serve, make_config: MakeConfig, simulator: Simulator
) -> None:
    """Hang-ups mid-upload (streamed and kept bodies) and mid-download never count."""
    gateway = await serve(make_config(upstream={"breaker_failures": FAILURES}))
    simulator.download_delay = 0.01  # the download is still under way as the client leaves
    file_id = simulator.generate_file("big.bin", 16 * MIB)
    for _ in range(FAILURES):
        await hang_up_mid_upload(gateway, simulator, 4 * MIB)  # streamed once
    for _ in range(FAILURES):
        await hang_up_mid_download(gateway, file_id)
    await served_and_idle(gateway)
    async with aiohttp.ClientSession(base_url=gateway.url) as session:
        await assert_still_up(session, gateway.app[UPSTREAM].breaker.state)
        async with session.get("/metrics") as response:
            metrics = await response.text()
    upload = 'olcg_upstream_requests_total{route="/rest/serverengine/filestore/DataFile",'
    assert f'{upload}status="client"}} {float(FAILURES)}' in metrics  # the client's, counted so


async def test_oversized_and_stalled_bodies_are_no_outage(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """Bodies cut off for growing past server.max_body or for stalling are the client's."""
    gateway = await make_gateway(
        server={"max_body": 2 * MIB, "client_timeout": 0.3},
        upstream={"breaker_failures": FAILURES},
    )
    stall = asyncio.Event()

    async def too_large() -> Any:
        for _ in range(3):
            yield b"x" * MIB  # chunked: the size shows only as it grows

    async def stalled() -> Any:
        yield b"x" * (MIB + 1)  # past the kept size: it takes a slot, then stops
        await stall.wait()

    try:
        for body in [too_large] * FAILURES + [stalled] * FAILURES:
            async with gateway.post(UPLOAD, data=body(), headers=key_header("admin")) as answer:
                assert answer.status == (413 if body is too_large else 408)
                assert (await answer.json())["error"]["status"] == answer.status
    finally:
        stall.set()
    await assert_still_up(gateway, app_of(gateway)[UPSTREAM].breaker.state)
    assert simulator.calls["filestore.upload"] == 2 * FAILURES  # each did reach OL Connect


def test_json_error_shapes() -> None:
    """Only OL Connect's JSON Error shape, labelled JSON, makes a 5xx an answer; a compressed
    one is read whole, within its bound, or not at all."""
    good = json.dumps({"error": {"status": 500, "message": "Invalid Data Record ID"}}).encode()
    assert is_json_error("application/json;charset=UTF-8", good)
    assert not is_json_error("text/html", good)
    for bad in (b"{}", b'{"error": "x"}', b'{"error": {"message": "m"}}', b"[", b"<html>"):
        assert not is_json_error("application/json", bad), bad
    packed = gzip.compress(good)
    assert decoded(packed, "gzip", 1024) == good
    assert decoded(packed[:-8], "gzip", 1024) is None  # truncated
    assert decoded(gzip.compress(b" " * 4096), "gzip", 1024) is None  # decodes past the bound
    assert decoded(b"not gzip", "gzip", 1024) is None
