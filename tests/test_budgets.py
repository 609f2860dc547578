"""Issue 23 F4, F5: budgets. While one client floods or trickles, the others keep their answers.

Each attack has the shape the review used — many slow requests or uploads
from one client — with short timeouts in the config; no test asserts how
long anything took, only who got answers. Connections (F7) are in
test_connection_limit.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import MakeGateway, client_entries, key_header, until

from gateway.simulator import Simulator
from gateway.state import BODIES, UPSTREAM
from gateway.upstream.budgets import Share, Slots
from gateway.upstream.events import UpstreamEvents

Client = TestClient[Any, Any]
BASE = "/rest/serverengine"
SEGMENTS = f"{BASE}/entity/jobsegments"
RESOURCES = f"{BASE}/filestore/resources"
UPLOAD = f"{BASE}/filestore/DataFile?filename=up.bin"
MIB = 1024 * 1024


def app_of(client: Client) -> web.Application:
    app: web.Application | None = client.app
    assert app is not None
    return app


def budget_events(log_output: Any, cause: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in log_output.getvalue().splitlines())
    return [e for e in lines if e.get("event") == "budget_exceeded" and e["cause"] == cause]


async def answer(
    session: Client | aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    async with session.request(method, url, **kwargs) as response:
        return response.status, dict(response.headers), await response.read()


async def read_segments(gateway: Client, count: int) -> int:
    """Another client's cache-missing reads, one after the other: how many were answered 200."""
    answered = 0
    for segment in range(1, count + 1):
        status, _, _ = await answer(gateway, "GET", f"{SEGMENTS}/{segment}", headers=key_header())
        answered += status == 200
    return answered


async def test_slots_hand_a_place_given_up_as_it_was_handed_to_the_next_waiter() -> None:
    """A waiter cancelled just as it was handed a slot passes it on, in arrival order."""
    slots = Slots(1, timeout=5, fair_share=1, events=UpstreamEvents())
    order: list[str] = []
    leave = asyncio.Event()
    waiters: list[asyncio.Task[None]] = []

    async def hold(name: str) -> None:
        async with slots.hold(Share(name, None)):
            order.append(name)
            await leave.wait()
        if name == "a":
            # a's exit handed the slot to b; b is cancelled before it could run.
            waiters[0].cancel()

    first = asyncio.create_task(hold("a"))
    await until(lambda: slots.in_use == 1)
    waiters += [asyncio.create_task(hold("b")), asyncio.create_task(hold("c"))]
    await until(lambda: slots.waiting == 2)
    leave.set()
    await asyncio.wait([first, *waiters], timeout=5)
    assert order == ["a", "c"]
    assert waiters[0].cancelled()
    assert (slots.in_use, slots.waiting, slots.pending) == (0, 0, 0)


async def test_a_client_over_its_share_waits_then_gets_503_while_others_get_slots(
    make_gateway: MakeGateway, simulator: Simulator, log_output: Any
) -> None:
    """12 slow requests of one client hold its fair share (1 of 4), not every slot."""
    gateway = await make_gateway(
        upstream={"max_connections": 4, "timeout": 1, "breaker_failures": 100}
    )
    slots = app_of(gateway)[UPSTREAM].slots
    simulator.route_latency["filestore.resources"] = 0.6
    flood = [
        asyncio.create_task(answer(gateway, "GET", RESOURCES, headers=key_header("admin")))
        for _ in range(12)
    ]
    try:
        await until(lambda: slots.pending == 12)  # every one of them holds or waits
        assert await read_segments(gateway, 3) == 3
        results = await asyncio.gather(*flood)
    finally:
        for request in flood:
            request.cancel()
    refused = [(headers, body) for status, headers, body in results if status == 503]
    assert refused, [status for status, _, _ in results]
    for headers, body in refused:
        assert headers["Retry-After"] == "1"
        assert json.loads(body)["error"]["message"] == "too many requests of this client in flight"
    assert len(budget_events(log_output, "client_slots")) == 1  # one line for them all
    assert slots.pending == 0


async def test_max_concurrent_sets_a_clients_share(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """`clients[].max_concurrent` replaces the fair share for that client."""
    entries = client_entries()
    for entry in entries:
        if entry["name"] == "admin":
            entry["max_concurrent"] = 3
    gateway = await make_gateway(upstream={"max_connections": 4}, clients=entries)
    slots = app_of(gateway)[UPSTREAM].slots
    simulator.route_latency["filestore.resources"] = 0.3
    flood = [
        asyncio.create_task(answer(gateway, "GET", RESOURCES, headers=key_header("admin")))
        for _ in range(5)
    ]
    await until(lambda: slots.in_use == 3)
    assert slots.held_by("admin") == 3
    assert [status for status, _, _ in await asyncio.gather(*flood)] == [200] * 5


async def trickle(prefix: int) -> AsyncIterator[bytes]:
    """An upload that sends ``prefix`` bytes, then one byte now and then, for ever."""
    yield b"x" * prefix
    while True:
        await asyncio.sleep(0.05)
        yield b"x"


async def test_trickled_uploads_are_cut_off_with_408_and_free_their_slots(
    make_gateway: MakeGateway, simulator: Simulator, log_output: Any
) -> None:
    """100 trickling uploads (4 past the kept size, holding every slot) are cut off; the
    other client's reads get slots all along."""
    entries = client_entries()
    for entry in entries:
        if entry["name"] == "admin":
            entry["max_concurrent"] = 4  # the share is not what saves the others here
    gateway = await make_gateway(
        server={"client_timeout": 1},
        upstream={"max_connections": 4, "timeout": 3, "breaker_failures": 100},
        clients=entries,
    )
    slots = app_of(gateway)[UPSTREAM].slots
    url = str(gateway.make_url(UPLOAD))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as attacker:
        uploads = [
            asyncio.create_task(
                answer(
                    attacker,
                    "POST",
                    url,
                    data=trickle(MIB + 1 if n < 4 else 100),
                    headers=key_header("admin"),
                )
            )
            for n in range(100)
        ]
        try:
            await until(lambda: slots.in_use == 4)  # the large ones hold every slot
            assert await read_segments(gateway, 5) == 5
            results = await asyncio.gather(*uploads)
        finally:
            for upload in uploads:
                upload.cancel()
    assert [status for status, _, _ in results] == [408] * 100
    assert json.loads(results[0][2])["error"]["parameter"] == "body"
    assert simulator.calls["filestore.upload"] == 4  # only the large ones went upstream
    await until(lambda: slots.pending == 0 and app_of(gateway)[BODIES].held == 0)
    assert len(budget_events(log_output, "body_stalled")) == 1


async def test_buffered_bodies_are_bounded_and_bodiless_requests_keep_answers(
    make_gateway: MakeGateway,
) -> None:
    """Past server.max_buffered a new body gets 503 + Retry-After; held bytes come back."""
    gateway = await make_gateway(server={"max_buffered": 2 * MIB})
    bodies = app_of(gateway)[BODIES]
    part = 700 * 1024
    go_on = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"x" * part
        await go_on.wait()
        yield b"x" * (MIB - part)

    url = str(gateway.make_url(UPLOAD))
    admin = key_header("admin")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as attacker:
        held = []
        for n in (1, 2):
            held.append(
                asyncio.create_task(answer(attacker, "POST", url, data=slow(), headers=admin))
            )
            await until(lambda n=n: bodies.held == n * part)  # type: ignore[misc]
        status, headers, body = await answer(attacker, "POST", url, data=slow(), headers=admin)
        assert (status, headers["Retry-After"]) == (503, "1")
        assert (
            json.loads(body)["error"]["message"]
            == "gateway busy: too many request bodies in flight"
        )
        assert bodies.held == 2 * part  # the refused one gave back what it had taken

        assert await read_segments(gateway, 3) == 3
        go_on.set()
        assert [status for status, _, _ in await asyncio.gather(*held)] == [200, 200]
    await until(lambda: bodies.held == 0)
    put = {"id": 4, "properties": [{"name": "k", "value": "v"}]}
    status, _, _ = await answer(
        gateway, "PUT", f"{SEGMENTS}/4/metadata", json=put, headers=key_header("writer")
    )
    assert status == 200
