"""/readyz of a real `serve` while its real upstream (a simulator process) dies and comes back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from conftest import KEYS, key_header
from processes import (
    UPSTREAM_ENV,
    UPSTREAM_PASSWORD,
    UPSTREAM_USER,
    Child,
    assert_no_secrets,
    free_port,
    poll,
    wait_http,
    wait_listening,
    write_config,
)

SEGMENTS = "/rest/serverengine/entity/jobsegments"
SEGMENT_ROUTE = SEGMENTS + "/{id}"  # the upstream route label: its catalogue template


def start_simulator(port: int, workdir: Path) -> Child:
    args = ["--port", str(port), "--username", UPSTREAM_USER, "--password", UPSTREAM_PASSWORD]
    child = Child(["simulator", *args], workdir)
    wait_listening(port)
    return child


async def readiness(session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
    async with session.get("/readyz") as response:
        return response.status, await response.json()


async def test_readyz_follows_a_killed_and_restarted_upstream(tmp_path: Path) -> None:
    """Upstream killed: 503 (a token is still held), one event naming the cause; restarted: 200."""
    sim_port, port = free_port(), free_port()
    simulator = start_simulator(sim_port, tmp_path)
    config = write_config(tmp_path / "gateway.yaml", port=port, upstream_port=sim_port)
    gateway = Child(["serve", "--config", str(config)], tmp_path, UPSTREAM_ENV)
    try:
        await wait_http(f"http://127.0.0.1:{port}/readyz", gateway)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            simulator.kill()
            async with session.get(f"{SEGMENTS}/7", headers=key_header()) as response:
                assert response.status == 502
            status, body = await readiness(session)
            assert (status, body["cause"]) == (503, "connection_refused")

            simulator = start_simulator(sim_port, tmp_path)

            async def ready() -> bool | None:
                return True if (await readiness(session))[0] == 200 else None

            await poll(ready, 15, "/readyz to return to 200")
            async with session.get(f"{SEGMENTS}/7", headers=key_header()) as response:
                assert response.status == 200
    finally:
        gateway.kill()
        simulator.kill()
    failures = [e for e in gateway.log_events() if e["event"] == "upstream_failed"]
    assert failures
    assert failures[0]["route"] == SEGMENT_ROUTE
    assert failures[0]["cause"] == "connection_refused"
    assert {e["cause"] for e in failures} == {"connection_refused"}
    assert_no_secrets(gateway.stdout + gateway.stderr, [*KEYS.values(), UPSTREAM_PASSWORD])
