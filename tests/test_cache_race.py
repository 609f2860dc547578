"""The race rule of SPEC §8.5: a read in flight during a write never writes the old answer back.

The simulator holds the read's answer after computing it (`route_hold`), so the
read really carries the value from before the write, and delivers it after.
Each race runs for a single-entity write, a bulk write and a delete, on the
memory and on the Redis backend (two gateways sharing it: the write goes
through one, the slow read through the other; and one gateway whose near
cache must honour the same fences).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import MakeGateway, key_header, until
from redis_fixtures import RedisServer

from gateway.simulator import Simulator

Client = TestClient[Any, Any]
E = "/rest/serverengine/entity"
ALL = key_header("admin")
HOLD = 0.4


@dataclass(frozen=True)
class Race:
    read: str  # the cached read
    route: str  # its simulator route name
    method: str
    write: str
    body: Any
    gone: bool = False  # the write deletes what the read shows


RACES = {
    "entity write": Race(
        f"{E}/jobs/5/properties",
        "jobs.properties_get",
        "PUT",
        f"{E}/jobs/5/properties",
        {"id": 5, "properties": [{"name": "state", "value": "new"}]},
    ),
    "bulk write": Race(
        f"{E}/contentitems/6/properties",
        "contentitems.properties_get",
        "PUT",
        f"{E}/contentitems/properties",
        [{"id": 6, "properties": [{"name": "state", "value": "new"}]}],
    ),
    "delete": Race(
        f"{E}/datasets/3",
        "datasets.get",
        "POST",
        f"{E}/datasets/3/delete",
        None,
        gone=True,
    ),
}


async def read(gateway: Client, path: str) -> tuple[int, str, bytes]:
    async with gateway.get(path, headers=ALL) as answer:
        return answer.status, answer.headers.get("X-Cache", "-"), await answer.read()


async def run_race(reader: Client, writer: Client, simulator: Simulator, race: Race) -> None:
    """Slow read of the old value, the write lands, the old answer arrives: never stored."""
    _, _, old = await read(reader, race.read)
    await reader.delete("/admin/cache", headers=ALL)  # the next read must go upstream
    simulator.route_hold[race.route] = HOLD
    calls = simulator.calls[race.route]
    slow = asyncio.create_task(read(reader, race.read))
    await until(lambda: simulator.calls[race.route] == calls + 1)  # old value computed
    async with writer.request(race.method, race.write, json=race.body, headers=ALL) as answer:
        assert answer.status == 200, await answer.text()
    simulator.route_hold.clear()
    status, _, carried = await slow
    assert (status, carried) == (200, old)  # a real race: the answer from before the write
    status, outcome, now = await read(reader, race.read)
    assert outcome == "MISS"  # the old answer was not stored
    assert status == (404 if race.gone else 200)
    if not race.gone:
        assert now != old
    assert (await read(writer, race.read))[2] == now  # nor on the writer's side


@pytest.mark.parametrize("race", RACES.values(), ids=RACES.keys())
async def test_race_memory_backend(gateway: Client, simulator: Simulator, race: Race) -> None:
    """In one gateway with the memory cache."""
    await run_race(gateway, gateway, simulator, race)


@pytest.mark.parametrize("race", RACES.values(), ids=RACES.keys())
async def test_race_redis_backend_across_gateways(
    make_gateway: MakeGateway,
    redis_server: RedisServer,
    redis_prefix: str,
    simulator: Simulator,
    race: Race,
) -> None:
    """Two gateways on one Redis: the write through one fences the other's slow read."""
    cache = {"backend": "redis", "redis_url": redis_server.url, "redis_prefix": redis_prefix}
    reader, writer = await make_gateway(cache=cache), await make_gateway(cache=cache)
    await run_race(reader, writer, simulator, race)


@pytest.mark.parametrize("race", RACES.values(), ids=RACES.keys())
async def test_race_redis_backend_one_gateway_with_near_cache(
    make_gateway: MakeGateway,
    redis_server: RedisServer,
    redis_prefix: str,
    simulator: Simulator,
    race: Race,
) -> None:
    """One gateway on Redis with a long-lived near cache: the write in this process keeps
    the slow read's old answer out of Redis and out of the near cache (issue 21 item 4)."""
    cache = {
        "backend": "redis",
        "redis_url": redis_server.url,
        "redis_prefix": redis_prefix,
        "near_ttl": 30,
    }
    gateway = await make_gateway(cache=cache)
    await run_race(gateway, gateway, simulator, race)
