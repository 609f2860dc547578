"""Driving a target for a fixed time: wrk when installed, else `bench.clients.pyload` in its
own process."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.clients.paths import wrk_script

WRK_DELAY_MS = 10  # think time per connection in rate-limited wrk runs
_WRK_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_WRK_TOTAL = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class Sample:
    """One timed run against one target."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    # The target's CPU time per request, in µs (0 when not measured): steadier than
    # requests/s on a shared machine, and it shows what each request costs the server.
    cpu_us: float = 0.0


@dataclass(frozen=True)
class Loader:
    """How load is made: ``wrk`` (path to the binary) or the Python generator."""

    wrk: str | None
    workdir: Path

    @property
    def name(self) -> str:
        return "wrk (1 thread)" if self.wrk else "python (bench.clients.pyload)"

    async def run(
        self,
        base: str,
        mode: str,
        *,
        connections: int,
        duration: float,
        headers: list[str],
        rate: float = 0.0,
        method: str = "GET",
        body: str = "",
        cpu: int | None = None,
    ) -> Sample:
        """Drive `base` with paths from `mode` (see `bench.clients.paths`).

        Args:
            method, body: what each request sends (its Content-Type goes in `headers`).
            cpu: pin the load generator to this CPU (the scale-out scenario).
        """
        pin = None if cpu is None else _pinned(cpu)
        if self.wrk:
            return await self._wrk(
                base, mode, connections, duration, headers, rate, method, body, pin
            )
        argv = [sys.executable, "-m", "bench.clients.pyload", "--url", base, "--mode", mode]
        argv += ["-c", str(connections), "-d", str(duration), "--rate", str(rate)]
        argv += ["--method", method, "--body", body]
        for header in headers:
            argv += ["-H", header]
        out = await _output(argv, pin)
        data = json.loads(out.strip().splitlines()[-1])
        return Sample(
            data["rps"], data["p50_ms"], data["p99_ms"], int(data["requests"]), int(data["errors"])
        )

    async def _wrk(
        self,
        base: str,
        mode: str,
        connections: int,
        duration: float,
        headers: list[str],
        rate: float,
        method: str,
        body: str,
        pin: Callable[[], None] | None,
    ) -> Sample:
        assert self.wrk is not None
        delay = 0
        if rate > 0:
            # wrk has no rate limit (wrk2 has): pace each connection with a fixed think
            # time from the Lua delay() hook, and size the pool so that pace sums to `rate`.
            delay = WRK_DELAY_MS
            connections = max(1, round(rate * delay / 1000))
        script = self.workdir / f"wrk-{abs(hash((mode, delay, method, body)))}.lua"
        script.write_text(wrk_script(mode, delay_ms=delay, method=method, body=body))
        argv = [self.wrk, "-t1", f"-c{connections}", f"-d{max(1, math.ceil(duration))}s"]
        argv += ["--latency", "--timeout", "5s", "-s", str(script)]
        for header in headers:
            argv += ["-H", header]
        out = await _output([*argv, base + "/"], pin)
        return parse_wrk(out)


def parse_wrk(out: str) -> Sample:
    """Requests/s, p50, p99, totals and errors from wrk's ``--latency`` report."""
    latency = {q: float(v) * _UNIT_MS[unit] for q, v, unit in _WRK_LATENCY.findall(out)}
    rps = _WRK_RPS.search(out)
    total = _WRK_TOTAL.search(out)
    if rps is None or total is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    errors = sum(int(n) for n in _WRK_NON2XX.findall(out))
    socket_errors = _WRK_SOCKET.search(out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Sample(float(rps.group(1)), latency["50"], latency["99"], int(total.group(1)), errors)


def _pinned(cpu: int) -> Callable[[], None]:
    """Run in the child before exec: restrict it to one CPU."""

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


async def _output(argv: list[str], pin: Callable[[], None] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=pin
    )
    try:
        out, err = await process.communicate()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({process.returncode}): {err.decode()[-2000:]}")
    return out.decode()
