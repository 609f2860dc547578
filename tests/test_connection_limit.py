"""Issue 23 F7: `server.max_connections` and the descriptors it needs.

A flood of idle or slow-header connections fills the bound; the next
connection is answered 503 at once (an answer, not a hang), the refusals are
one log line per interval, and a freed connection lets the next client in.
Served by the production runner (`served.py`), which enforces the bound.
"""

from __future__ import annotations

import asyncio
import json
import resource
from typing import Any

import aiohttp
from conftest import FakeClock, MakeConfig, until
from served import Serve, Served, serve_fixture  # noqa: F401 - the fixture

from gateway.config.model import Config
from gateway.edge.rejections import GatewayServer
from gateway.edge.runner_options import descriptors_needed, raise_descriptor_limit

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"


def server_of(gateway: Served) -> GatewayServer:
    server = gateway.runner.server
    assert isinstance(server, GatewayServer)
    return server


async def send_raw(gateway: Served, raw: bytes) -> bytes:
    """Send `raw` on a fresh connection; return all the server wrote before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def refusals(log_output: Any) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in log_output.getvalue().splitlines())
    return [e for e in lines if e.get("event") == "budget_exceeded" and e["cause"] == "connections"]


async def test_connections_over_the_limit_are_answered_503_at_once(
    serve: Serve, make_config: MakeConfig, clock: FakeClock, log_output: Any
) -> None:
    """Three idle connections fill a bound of three; the fourth and later get 503 + Retry-After."""
    gateway = await serve(make_config(server={"max_connections": 3}))
    server = server_of(gateway)
    idle = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(3)]
    await until(lambda: server.open_connections == 3)
    try:
        for _ in range(5):
            raw = await send_raw(gateway, REQUEST)
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), raw[:60]
            for line in (b"Retry-After: 1", b"Connection: close", b"Server: olconnect-gateway"):
                assert line in head.split(b"\r\n")
            assert json.loads(body)["error"] == {
                "status": 503,
                "message": "gateway busy: too many connections",
                "parameter": "",
            }
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{gateway.url}/readyz") as response,
        ):
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
        assert server.open_connections == 3  # the refused ones never counted
        assert [e["suppressed"] for e in refusals(log_output)] == [0]

        clock.advance(61)  # past the event interval: the next refusal says how many it hid
        assert (await send_raw(gateway, REQUEST)).startswith(b"HTTP/1.1 503")
        assert [e["suppressed"] for e in refusals(log_output)] == [0, 5]

        idle.pop()[1].close()  # one connection leaves: the next client is served
        await until(lambda: server.open_connections == 2)
        assert (await send_raw(gateway, REQUEST)).startswith(b"HTTP/1.1 200")
    finally:
        for _, writer in idle:
            writer.close()


async def test_slow_header_connections_hold_a_place_only_until_client_timeout(
    serve: Serve, make_config: MakeConfig
) -> None:
    """A connection that never finishes its request head is closed after server.client_timeout,
    and its place goes to the next client."""
    gateway = await serve(make_config(server={"max_connections": 2, "client_timeout": 0.3}))
    server = server_of(gateway)
    slow = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(2)]
    for _, writer in slow:
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Slow: ")  # and never the rest
    await until(lambda: server.open_connections == 2)
    assert (await send_raw(gateway, REQUEST)).startswith(b"HTTP/1.1 503")
    await until(lambda: server.open_connections == 0)
    assert (await send_raw(gateway, REQUEST)).startswith(b"HTTP/1.1 200")
    for _, writer in slow:
        writer.close()


def test_descriptors_needed_cover_both_bounds(make_config: MakeConfig) -> None:
    """A process needs a descriptor per client connection and per upstream connection, and spare."""
    config: Config = make_config(server={"max_connections": 500}, upstream={"max_connections": 50})
    assert descriptors_needed(config) >= 500 + 50 + 2


def test_raise_descriptor_limit_raises_the_soft_limit_up_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        wanted = soft + 16 if hard == resource.RLIM_INFINITY else min(soft + 16, hard)
        assert raise_descriptor_limit(wanted) == wanted
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == wanted
        assert raise_descriptor_limit(1) == wanted  # never lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
