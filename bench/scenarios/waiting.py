"""Scenario o, waiting on operations (SPEC §11.3): many clients on a few running operations.

A gateway of its own (default `operations.poll_interval`, 0.5 s) starts 10 output
creations that run for the whole scenario (the simulator counts progress by
polls, and is told to need 100,000 of them). Then, for the same time each:

- waiters: the clients wait through the gateway, half with `Prefer: wait=N` on
  `getProgress`, half on the `/operations/{id}/events` stream;
- pollers: the same clients poll `getProgress` themselves, once a second each
  (the C# client's pace), each poll forwarded.

Measured: upstream `getProgress` calls per operation (counted at the simulator)
and the gateway's RSS growth over its RSS before the phase (sampled every 10 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp

from bench.harness import KEY, Bench, calls, set_faults
from bench.report.results import WaitRun
from bench.targets import procs
from bench.targets.procs import Proc, rss_peak

OUTPUT = "/rest/serverengine/workflow/outputcreation"
OPERATIONS = 10
INTERVAL = 0.5  # the gateway's default operations.poll_interval
CLIENT_POLL_EVERY = 1.0
# Progress rises by 1 every 4 polls to 99, and `done` needs 100,000 polls: never, here.
STEPS = [min(99, n // 4) for n in range(100_000)]
DEFAULT_STEPS = [0, 50, 100]


async def waiting(bench: Bench) -> None:
    """Start the gateway and the operations; run the waiters, then the pollers."""
    gateway = procs.start_gateway(bench.fleet, bench.sim.url, 1000, name="gateway-ops")
    await procs.wait_ready(gateway, "/healthz")
    await set_faults(bench.http, bench.sim, progress_steps=STEPS)
    try:
        operations = [await _start(bench, gateway) for _ in range(OPERATIONS)]
        for mode in ("waiters", "pollers"):
            run = await _phase(bench, gateway, operations, mode)
            bench.results.waits.append(run)
            print(f"# waiting: {mode} done", flush=True)
    finally:
        await set_faults(bench.http, bench.sim, progress_steps=DEFAULT_STEPS)


async def _start(bench: Bench, gateway: Proc) -> str:
    async with bench.http.post(f"{gateway.url}{OUTPUT}/bench/1", headers=KEY) as answer:
        if answer.status != 202:
            raise RuntimeError(f"starting an operation answered {answer.status}")
        return answer.headers["operationId"]


async def _phase(bench: Bench, gateway: Proc, operations: list[str], mode: str) -> WaitRun:
    clients, seconds = bench.args.waiters, bench.args.wait_seconds
    before = (await calls(bench.http, bench.sim))["outputcreation.progress"]
    baseline = gateway.rss_mb()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with (
        aiohttp.ClientSession(gateway.url, connector=connector, timeout=timeout) as session,
        rss_peak(gateway) as peak,
    ):
        began = time.monotonic()
        deadline = began + seconds
        outcomes = await asyncio.gather(
            *(
                _client(session, operations[n % OPERATIONS], deadline, mode, stream=n % 2 == 1)
                for n in range(clients)
            ),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - began
    after = (await calls(bench.http, bench.sim))["outputcreation.progress"]
    return WaitRun(
        mode=mode,
        clients=clients,
        operations=OPERATIONS,
        seconds=elapsed,
        interval=INTERVAL,
        upstream_polls=after - before,
        answered=sum(1 for o in outcomes if o is True),
        errors=sum(1 for o in outcomes if o is not True),
        rss_growth_mb=max(0.0, peak[0] - baseline),
    )


async def _client(
    session: aiohttp.ClientSession, op_id: str, deadline: float, mode: str, *, stream: bool
) -> bool:
    """One client until the deadline; True when every answer it got was a good one."""
    progress = f"{OUTPUT}/getProgress/{op_id}"
    if mode == "pollers":
        while time.monotonic() < deadline:
            async with session.get(progress, headers=KEY) as answer:
                if answer.status != 200 or not (await answer.text()).isdigit():
                    return False
            await asyncio.sleep(min(CLIENT_POLL_EVERY, max(0.0, deadline - time.monotonic())))
        return True
    if stream:
        events = 0
        async with session.get(f"/operations/{op_id}/events", headers=KEY) as answer:
            if answer.status != 200:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    async for line in answer.content:
                        events += line.startswith(b"event: progress")
        return events >= 1
    wait = max(1, round(deadline - time.monotonic()))
    async with session.get(progress, headers={**KEY, "Prefer": f"wait={wait}"}) as answer:
        return answer.status == 200 and answer.headers.get("Preference-Applied") == f"wait={wait}"
