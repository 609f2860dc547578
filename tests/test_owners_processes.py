"""Owners and waiting where the gateway runs as several processes (SPEC §11.2, §11.3).

`serve --workers 2` on the memory back-end, two `serve` processes on one
Redis, and a restart of both: ownership holds everywhere, a finished
operation stays finished, and the cluster polls OL Connect once per interval.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
from operations_support import BASE, FS, as_, group_clients, output_flow, start, upload
from processes import (  # *_fixture: imported so pytest finds them in this module
    UPSTREAM_ENV,
    Child,
    StartGateway,
    free_port,
    poll,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
    wait_http,
    write_config,
)
from redis_fixtures import RedisServer

OC = "workflow/outputcreation"
SECTIONS: dict[str, Any] = {"clients": group_clients(), "operations": {"poll_interval": 0.05}}


def fresh(url: str) -> aiohttp.ClientSession:
    """A session opening a new connection per request (the kernel spreads them over workers)."""
    return aiohttp.ClientSession(base_url=url, connector=aiohttp.TCPConnector(force_close=True))


async def status_of(session: aiohttp.ClientSession, who: str, method: str, path: str) -> int:
    async with session.request(method, path, headers=as_(who)) as answer:
        await answer.read()
        return answer.status


def checks(ids: dict[str, str]) -> list[tuple[str, str]]:
    """Requests on what a1 made: each must be 404 for b1 and pass the owner check for a2."""
    return [
        ("GET", f"{BASE}/{OC}/getProgress/{ids['operation']}"),
        ("POST", f"{BASE}/{OC}/getManagedResult/{ids['operation']}"),
        ("GET", f"{FS}/file/{ids['file']}"),
        ("GET", f"{FS}/file/{ids['managed']}"),
    ]


async def assert_owned(url: str, ids: dict[str, str], rounds: int = 1) -> None:
    """b1 gets 404 for every check; a2 (a1's group) gets OL Connect's answer (200)."""
    async with fresh(url) as session:
        for _ in range(rounds):
            for method, path in checks(ids):
                assert await status_of(session, "b1", method, path) == 404, path
                assert await status_of(session, "a2", method, path) == 200, path


async def _true_if(condition: bool) -> bool | None:
    return True if condition else None


async def test_owners_hold_across_workers_with_the_memory_back_end(
    upstream: str, sim_control: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """`serve --workers 2`, memory back-end: what a1 made through one worker is refused to b1
    and served to a2 on both workers (a new connection per request), and a finished
    operation stays finished on either."""
    port = free_port()
    config = write_config(
        tmp_path / "gateway.yaml",
        port=port,
        upstream_port=int(upstream.rsplit(":", 1)[1]),
        **SECTIONS,
    )
    child = Child(["serve", "--config", str(config), "--workers", "2"], tmp_path, UPSTREAM_ENV)
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_http(url + "/healthz", child)

        def listening() -> set[int]:
            return {e["pid"] for e in child.log_events() if e["event"] == "gateway_listening"}

        await poll(lambda: _true_if(len(listening()) == 2), 10, "two workers listening")
        async with fresh(url) as session:
            ids = await output_flow(session, "a1")
        await assert_owned(url, ids, rounds=8)
        served = {
            e["pid"]
            for e in child.log_events()
            if e["event"] == "request" and e.get("client") == "b1" and e["status"] == 404
        }
        assert served == listening(), "both workers must have refused b1"
        async with fresh(url) as session:
            for _ in range(6):  # OL Connect forgot it; whichever worker answers remembers
                path = f"{BASE}/{OC}/getProgress/{ids['operation']}"
                async with session.get(path, headers=as_("a2")) as answer:
                    assert await answer.text() == "done"
    finally:
        child.kill()


async def test_owners_hold_across_two_gateways_on_redis_and_their_restart(
    start_gateway: StartGateway,
    sim_control: aiohttp.ClientSession,
    redis_server: RedisServer,
    redis_prefix: str,
) -> None:
    """Two `serve` processes on one Redis: what a1 made through one is refused to b1 on the
    other; after both restart, still — and the finished operation still reads `done`."""
    cache = {"backend": "redis", "redis_url": redis_server.url, "redis_prefix": redis_prefix}
    one, two = await asyncio.gather(*(start_gateway(cache=cache, **SECTIONS) for _ in range(2)))
    async with fresh(one.url) as session:
        ids = await output_flow(session, "a1")
    await assert_owned(two.url, ids)
    for gateway in (one, two):
        gateway.child.kill()
    again = await asyncio.gather(*(start_gateway(cache=cache, **SECTIONS) for _ in range(2)))
    for gateway in again:
        await assert_owned(gateway.url, ids)
        async with fresh(gateway.url) as session:
            path = f"{BASE}/{OC}/getProgress/{ids['operation']}"
            async with session.get(path, headers=as_("a1")) as answer:
                assert await answer.text() == "done"


async def test_two_gateways_on_redis_poll_an_operation_once_per_interval(
    start_gateway: StartGateway,
    sim_control: aiohttp.ClientSession,
    redis_server: RedisServer,
    redis_prefix: str,
) -> None:
    """Clients waiting on one operation through two gateways: the cluster polls OL Connect at
    most once per `operations.poll_interval` (one poll permit in Redis)."""
    interval = 0.2
    async with sim_control.put(
        "/_sim/fault", json={"progress_steps": [n // 5 for n in range(500)]}
    ) as r:
        assert r.status == 200
    cache = {"backend": "redis", "redis_url": redis_server.url, "redis_prefix": redis_prefix}
    sections = {**SECTIONS, "operations": {"poll_interval": interval}}
    gateways = await asyncio.gather(*(start_gateway(cache=cache, **sections) for _ in range(2)))
    async with fresh(gateways[0].url) as session:
        file_id = await upload(session, "a1")
        op_id = await start(session, "a1", f"{BASE}/workflow/datamining/c/{file_id}")

    async def wait_on(url: str) -> str:
        async with (
            aiohttp.ClientSession(base_url=url) as session,
            session.get(
                f"{BASE}/workflow/datamining/getProgress/{op_id}",
                headers=as_("a2", Prefer="wait=2"),
            ) as answer,
        ):
            assert answer.headers["Preference-Applied"] == "wait=2"
            return await answer.text()

    began = time.monotonic()
    answers = await asyncio.gather(*(wait_on(g.url) for g in gateways for _ in range(10)))
    elapsed = time.monotonic() - began
    async with sim_control.get("/_sim/calls") as calls:
        polls = (await calls.json())["datamining.progress"]
    assert 2 <= polls <= elapsed / interval + 1
    assert all(answer.isdigit() for answer in answers)
