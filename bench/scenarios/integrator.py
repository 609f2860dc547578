"""Scenario i, an integrator's day: the same tasks replayed straight to the simulator and
through the gateway, with OL Connect-like latencies.

Its own simulator and gateway (a cold cache, shipped TTLs), so nothing the other
scenarios did is in its counts. Before each replay the simulator is reset (data,
operations, counters) and given its latencies: login 150 ms, ``getProgress``
10 ms, every other route 20 ms. Upstream calls are what the simulator's
``/_sim/calls`` counted during the replay, every route included.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bench.harness import Bench, calls, set_faults
from bench.report.results import DayRun
from bench.targets import procs

SEGMENTS = 1000  # → 250 job sets, 500 jobs, 1,000 segments, 3,000 document sets
LOGIN_S, PROGRESS_S, OTHER_S = 0.150, 0.010, 0.020
CLIENT = "bench"  # the gateway client name in bench.targets.procs' config
WORKFLOW = ("datamining", "contentcreation", "email", "jobcreation", "outputcreation", "print")


async def integrator(bench: Bench) -> None:
    """Start the day's simulator and gateway, replay direct, then through the gateway."""
    sim = procs.start_simulator(bench.fleet, SEGMENTS, name="day-simulator")
    gateway = procs.start_gateway(bench.fleet, sim.url, 10_000, name="day-gateway")
    await procs.wait_ready(sim, "/rest/serverengine/entity/jobsegments/version")
    await procs.wait_ready(gateway, "/healthz")
    targets = (
        ("direct", sim.url, procs.SIM_USER, procs.SIM_PASSWORD),
        ("gateway", gateway.url, CLIENT, procs.API_KEY),
    )
    for target, base, name, secret in targets:
        await _reset(bench, sim)
        before = await calls(bench.http, sim)
        summary = await _replay(bench, base, name, secret)
        after = await calls(bench.http, sim)
        made = {route: after[route] - before.get(route, 0) for route in after}
        bench.results.day.append(
            DayRun(
                target=target,
                tasks=bench.args.day_tasks,
                requests=int(summary["requests"]),
                errors=int(summary["errors"]),
                relogins=int(summary["relogins"]),
                distinct_reads=int(summary["distinct_reads"]),
                p50_ms=summary["p50_ms"],
                p99_ms=summary["p99_ms"],
                seconds=summary["seconds"],
                upstream={
                    kind: sum(n for r, n in made.items() if _kind(r) == kind) for kind in KINDS
                },
            )
        )
        print(f"# integrator's day: {target} done in {summary['seconds']:.1f} s", flush=True)


KINDS = ("logins", "reads", "writes", "operations")


def _kind(route: str) -> str:
    """What a simulator route name is, for the breakdown of upstream calls."""
    if route == "login":
        return "logins"
    if route.endswith(("_put", "_bulk", ".delete", ".add")):
        return "writes"
    if route.partition(".")[0] in WORKFLOW:
        return "operations"
    return "reads"


async def _replay(bench: Bench, base: str, name: str, secret: str) -> dict[str, float]:
    """`bench.clients.replay` in its own process; its JSON summary."""
    argv = [sys.executable, "-m", "bench.clients.replay", "--base", base]
    argv += ["--tasks", str(bench.args.day_tasks), "--job-sets", str(SEGMENTS // 4)]
    argv += ["--apps", str(bench.args.day_apps)]
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    account = json.dumps({"name": name, "secret": secret}).encode()
    out, _ = await process.communicate(account)
    if process.returncode != 0:
        raise RuntimeError("the integrator's replay failed")
    summary: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return summary


async def _reset(bench: Bench, sim: procs.Proc) -> None:
    """Fresh data and counters, then the latencies (a reset lifts them too)."""
    async with bench.http.post(sim.url + "/_sim/reset") as response:
        response.raise_for_status()
    routes = await calls(bench.http, sim)
    latency = {
        route: LOGIN_S
        if route == "login"
        else PROGRESS_S
        if route.endswith(".progress")
        else OTHER_S
        for route in routes
    }
    await set_faults(bench.http, sim, latency=0, route_latency=latency)
