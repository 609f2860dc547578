"""Soak: minutes of mixed reads and writes from many clients while upstream faults come and go.

Slow, so deselected by default. Run it with

    pytest -m slow tests/test_soak.py                 # SOAK_SECONDS=180
    SOAK_SECONDS=600 SOAK_CLIENTS=50 pytest -m slow tests/test_soak.py

It checks that no answer is a 500 (or any status a healthy gateway would not
give), that the cache never holds more than its bounds (`cache.max_entries`
answers and `cache.max_not_found` 404s) and the process's memory stops
growing once warm, that every acknowledged PUT is in
the simulator (nothing lost, nothing overwritten by an older write), and that
the gateway is ready again once the faults stop.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from conftest import KEYS, client_entries
from pytest_aiohttp import AiohttpServer

from gateway.app import create_app
from gateway.config.model import Config
from gateway.edge.runner_options import runner_options
from gateway.simulator import Fault, Simulator, create_simulator_app
from gateway.telemetry.log import configure_logging

SECONDS = float(os.environ.get("SOAK_SECONDS", "180"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "24"))
SEGMENTS = 400  # ids 1..SEGMENTS exist; up to SEGMENTS + 50 are asked for (404s too)
MAX_ENTRIES = 100  # far fewer than the ids asked for: eviction runs all the time
MAX_NOT_FOUND = 20  # upstream 404s, in their own bound (SPEC §9)
WARM_UP = 0.25  # share of the run after which memory must stop growing
MEMORY_GROWTH_LIMIT = 64 * 1024 * 1024
PATH = "/rest/serverengine/entity/jobsegments"
# Statuses a correct gateway gives here: answers, upstream 404s, and the fault mappings.
EXPECTED = {200, 204, 404, 502, 504}
FAULTS = [fault for fault in Fault if fault is not Fault.UNAUTHORIZED] + [Fault.UNAUTHORIZED]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(SECONDS + 120)]


def cache_entries(exposition: str) -> int:
    """`olcg_cache_entries` from a /metrics answer."""
    for line in exposition.splitlines():
        if line.startswith("olcg_cache_entries "):
            return int(float(line.split()[1]))
    raise AssertionError("olcg_cache_entries not exported")


def rss_bytes() -> int:
    """Resident set size of this process (the gateway runs in it)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Tally:
    """What the clients saw."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    unexpected: list[tuple[str, str, int, str]] = field(default_factory=list)
    acked: dict[int, int] = field(default_factory=dict)  # segment → last acknowledged seq

    def record(self, method: str, path: str, status: int, body: str) -> None:
        self.statuses[status] += 1
        if status not in EXPECTED and len(self.unexpected) < 20:
            self.unexpected.append((method, path, status, body[:200]))


async def client_loop(
    base: str, worker: int, deadline: float, tally: Tally, rng: random.Random
) -> None:
    """One application: mostly reads, some writes to its own segments, rare purges."""
    reader = {"X-API-Key": KEYS["reader"]}
    writer = {"X-API-Key": KEYS["writer"]}
    admin = {"X-API-Key": KEYS["admin"]}
    own = [s for s in range(1, SEGMENTS + 1) if s % CLIENTS == worker]  # disjoint writers
    seq = 0
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base, timeout=timeout) as session:
        while time.monotonic() < deadline:
            roll = rng.random()
            segment = rng.randint(1, SEGMENTS + 50)
            if roll < 0.45:
                method, path, headers, body = "GET", f"{PATH}/{segment}", reader, None
            elif roll < 0.80:
                method, path, headers, body = "GET", f"{PATH}/{segment}/metadata", reader, None
            elif roll < 0.97 and own:
                seq += 1
                segment = rng.choice(own)
                body = {
                    "id": segment,
                    "properties": [
                        {"name": "writer", "value": str(worker)},
                        {"name": "seq", "value": str(seq)},
                    ],
                }
                method, path, headers = "PUT", f"{PATH}/{segment}/metadata", writer
            elif roll < 0.99:
                method, path, headers, body = "GET", PATH, reader, None
            else:
                method, path, headers, body = (
                    "DELETE",
                    f"/admin/cache/jobsegments/{segment}",
                    admin,
                    None,
                )
            try:
                async with session.request(method, path, headers=headers, json=body) as response:
                    text = await response.text()
                    tally.record(method, path, response.status, text)
                    if method == "PUT" and response.status == 200:
                        tally.acked[segment] = max(tally.acked.get(segment, 0), seq)
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.record(method, path, -1, type(exc).__name__)


async def fault_loop(sim: Simulator, deadline: float, rng: random.Random) -> None:
    """Faults for about a third of the time, in bursts; latency spikes in between."""
    while time.monotonic() < deadline:
        sim.fault = rng.choice(FAULTS) if rng.random() < 0.35 else None
        sim.latency = rng.choice([0.0, 0.0, 0.0, 0.05, 0.3])
        await asyncio.sleep(rng.uniform(0.5, 2.0))
    sim.fault = None
    sim.latency = 0.0


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Errors only, thrown away: minutes of access lines would swamp memory and output."""
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        configure_logging("error", "json", devnull, cache_loggers=False)
        yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("quiet_logs")
async def test_soak_mixed_traffic_with_faults(aiohttp_server: AiohttpServer) -> None:
    """Minutes of concurrent reads, writes and purges under faults: no 500, no lost write,
    bounded cache and memory, ready at the end."""
    rng = random.Random(int(os.environ.get("SOAK_SEED", "7")))  # noqa: S311 - test data
    sim = Simulator(segments=SEGMENTS)
    upstream = await aiohttp_server(create_simulator_app(sim))
    config = Config.model_validate(
        {
            "upstream": {
                "url": str(upstream.make_url("")).rstrip("/"),
                "username": "ol-admin",
                "password": "secret",
                "timeout": 1,
                "breaker_failures": 5,
                "breaker_cooldown": 1,
            },
            "cache": {
                "max_entries": MAX_ENTRIES,
                "max_not_found": MAX_NOT_FOUND,
                "ttl": {"document_sets": 5, "metadata": 2},
            },
            "clients": client_entries(),
        }
    )
    app = create_app(config)
    gateway = await aiohttp_server(app, **runner_options(config.server))
    base = str(gateway.make_url("")).rstrip("/")
    started = time.monotonic()
    deadline = started + SECONDS
    tally = Tally()
    samples: list[tuple[float, int, int]] = []  # (elapsed, rss, cache entries)

    async def sample() -> None:
        async with aiohttp.ClientSession(base) as session:
            while time.monotonic() < deadline:
                async with session.get("/metrics") as response:
                    entries = cache_entries(await response.text())
                samples.append((time.monotonic() - started, rss_bytes(), entries))
                await asyncio.sleep(1)

    await asyncio.gather(
        fault_loop(sim, deadline - min(10, SECONDS / 5), rng),
        sample(),
        *(
            client_loop(base, worker, deadline, tally, random.Random(rng.random()))  # noqa: S311
            for worker in range(CLIENTS)
        ),
    )

    assert tally.statuses[500] == 0, describe(tally)
    assert not tally.unexpected, (tally.unexpected, describe(tally))
    assert tally.statuses[-1] == 0, "client-side errors (timeouts, resets)"
    assert tally.statuses[200] > 0
    assert tally.statuses[502] > 0, "no fault reached a client: the soak proved nothing"
    print("soak:", describe(tally), "rss MiB:", [rss >> 20 for _, rss, _ in samples[::10]])
    assert tally.acked, "no PUT was acknowledged"

    # Nothing lost: each segment holds its last acknowledged write, or a later one
    # whose answer was lost to a fault (a write may land after the gateway gave up).
    for segment, seq in tally.acked.items():
        stored = {p["name"]: p["value"] for p in sim.metadata(segment)}
        assert stored.get("writer") == str(segment % CLIENTS), segment
        assert int(stored["seq"]) >= seq, (segment, stored, seq)

    assert samples, "no memory samples"
    # olcg_cache_entries counts answers and 404s together; each has its own bound.
    assert all(entries <= MAX_ENTRIES + MAX_NOT_FOUND for _, _, entries in samples), samples
    warm = [rss for elapsed, rss, _ in samples if elapsed >= SECONDS * WARM_UP]
    if len(warm) >= 2:
        assert max(warm) - warm[0] < MEMORY_GROWTH_LIMIT, (warm[0], max(warm))

    async with aiohttp.ClientSession(base) as session:

        async def ready() -> bool:
            async with session.get("/readyz") as response:
                return response.status == 200

        give_up = time.monotonic() + 15
        while not await ready():
            assert time.monotonic() < give_up, "not ready after the faults stopped"
            await asyncio.sleep(0.2)
        async with session.get(f"{PATH}/1", headers={"X-API-Key": KEYS["reader"]}) as response:
            assert response.status == 200


def describe(tally: Tally) -> dict[str, Any]:
    """A summary for a failing run's message."""
    return {"statuses": dict(tally.statuses), "acked": len(tally.acked)}
