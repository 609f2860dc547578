"""Scenario f, forwarded requests: small non-cacheable calls through the gateway's pass-through,
through nginx ``proxy_pass`` with the same key check, through a bare aiohttp
pass-through (`bench.targets.bare_proxy`), and straight to the simulator.

Two requests an integrator makes all day: ``GET …/getProgress/{id}`` of a started
operation (polled until ``done``) and ``PUT entity/jobs/{id}/properties`` (a
small JSON write, which the gateway also turns into a cache invalidation).
"Direct" sends the simulator's own ``auth_token``, obtained once, as nginx does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.harness import AUTH, Bench, rotate
from bench.targets.procs import Proc

BASE = "/rest/serverengine"
OUTPUT = f"{BASE}/workflow/outputcreation"
PROPERTIES_JOB = 1
JSON_TYPE = "Content-Type: application/json"


@dataclass(frozen=True)
class Forwarded:
    """One forwarded request, repeated by every connection of a loader run."""

    scenario: str
    path: str
    method: str = "GET"
    body: str = ""

    def headers(self, credential: str) -> list[str]:
        return [credential, JSON_TYPE] if self.body else [credential]


async def prepare(bench: Bench, token: str) -> list[Forwarded]:
    """Start one output creation and poll it to ``done``; the two requests to drive."""
    direct = {"auth_token": token}
    async with bench.http.post(f"{bench.sim.url}{OUTPUT}/bench/1", headers=direct) as response:
        if response.status != 202:
            raise RuntimeError(f"starting an operation answered {response.status}")
        operation = response.headers["operationId"]
    progress = f"{OUTPUT}/getProgress/{operation}"
    for _ in range(100):
        async with bench.http.get(bench.sim.url + progress, headers=direct) as response:
            if (await response.text()) == "done":
                break
    else:
        raise RuntimeError("the operation never reached done")
    body = {"id": PROPERTIES_JOB, "properties": [{"name": "status", "value": "printed"}]}
    return [
        Forwarded("f: forwarded GET getProgress", progress),
        Forwarded(
            "f: forwarded PUT job properties",
            f"{BASE}/entity/jobs/{PROPERTIES_JOB}/properties",
            "PUT",
            json.dumps(body, separators=(",", ":")),
        ),
    ]


async def forwarded(bench: Bench, targets: dict[str, Proc], token: str) -> None:
    """Drive each request against each target in turn, round after round.

    Args:
        targets: ``gateway``, ``nginx`` (when installed), ``bare-aiohttp-proxy`` and
            ``direct`` (the simulator).
        token: the upstream token nginx sends; the direct runs send it too.
    """
    credentials = {name: AUTH for name in targets}
    credentials["direct"] = f"auth_token: {token}"
    requests = await prepare(bench, token)
    names = list(targets)
    for request in requests if bench.args.warmup > 0 else []:
        for name in names:
            await bench.loader.run(
                targets[name].url,
                f"fixed:{request.path}",
                connections=bench.args.connections,
                duration=bench.args.warmup,
                headers=request.headers(credentials[name]),
                method=request.method,
                body=request.body,
            )
    for round_no in range(bench.args.rounds):
        for request in requests:
            for name in rotate(names, round_no):
                sample = await bench.drive(
                    targets[name],
                    f"fixed:{request.path}",
                    request.headers(credentials[name]),
                    method=request.method,
                    body=request.body,
                )
                bench.results.add(request.scenario, name, round_no, sample)
        print(f"# forwarded: round {round_no + 1}/{bench.args.rounds} done", flush=True)
