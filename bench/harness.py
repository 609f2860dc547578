"""What every scenario shares: the run's settings and processes, CPU accounting, rotation,
and the simulator's controls."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Awaitable
from dataclasses import dataclass

import aiohttp
from aiohttp import hdrs

from bench.clients.load import Loader, Sample
from bench.report.results import Results
from bench.targets.procs import API_KEY, SIM_PASSWORD, SIM_USER, Fleet, Proc

AUTH = f"X-API-Key: {API_KEY}"  # for the load generators
KEY = {"X-API-Key": API_KEY}  # for aiohttp requests
LOGIN = "/rest/serverengine/authentication/login"


@dataclass
class Bench:
    """One `python -m bench` run: its settings, processes, load generator and results.

    Args:
        args: the parsed command line (after `run._settings` filled in the defaults).
        fleet: every process started, stopped at the end whatever happens.
        loader: wrk or the Python generator.
        http: a client session for set-up and controls (not for load).
        sim: the shared simulator.
        results: what the table is rendered from.
    """

    args: argparse.Namespace
    fleet: Fleet
    loader: Loader
    http: aiohttp.ClientSession
    sim: Proc
    results: Results

    async def drive(
        self,
        target: Proc,
        mode: str,
        headers: list[str],
        *,
        duration: float | None = None,
        **options: object,
    ) -> Sample:
        """One loader run against `target` with the run's connections, CPU per request measured."""
        run = self.loader.run(
            target.url,
            mode,
            connections=self.args.connections,
            duration=self.args.duration if duration is None else duration,
            headers=headers,
            **options,  # type: ignore[arg-type]
        )
        return await measured(target, run)


async def measured(target: Proc, run: Awaitable[Sample]) -> Sample:
    """`run` (a loader run against `target`, not yet started), with the target's CPU per request."""
    before = target.cpu_seconds()
    sample = await run
    spent = target.cpu_seconds() - before
    return dataclasses.replace(sample, cpu_us=spent * 1e6 / max(1, sample.requests))


def rotate(names: list[str], round_no: int) -> list[str]:
    """A B C, then B C A, …: no target always runs first (or right after a warm-up)."""
    shift = round_no % len(names)
    return names[shift:] + names[:shift]


async def login(http: aiohttp.ClientSession, sim: Proc) -> str:
    """An upstream token, obtained once up front as an operator would (for nginx, direct runs)."""
    basic = {hdrs.AUTHORIZATION: aiohttp.encode_basic_auth(SIM_USER, SIM_PASSWORD)}
    async with http.post(sim.url + LOGIN, headers=basic) as response:
        response.raise_for_status()
        return (await response.text()).strip()


async def set_faults(http: aiohttp.ClientSession, sim: Proc, **settings: object) -> None:
    """`PUT /_sim/fault` with `settings` (latency, route_latency, …)."""
    async with http.put(sim.url + "/_sim/fault", json=settings) as response:
        response.raise_for_status()


async def calls(http: aiohttp.ClientSession, sim: Proc) -> dict[str, int]:
    """The simulator's calls per route so far."""
    async with http.get(sim.url + "/_sim/calls") as response:
        response.raise_for_status()
        data: dict[str, int] = await response.json()
        return data
