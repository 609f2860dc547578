"""`python -m bench.icount`: instructions per cache hit, gateway against bare aiohttp.

Requests/s on a shared machine moves with whatever else runs; an instruction
count does not. Each target runs under ``valgrind --tool=callgrind`` with
instrumentation off while it starts and answers `--warmup` hits (fully
instrumented, the gateway takes about a minute to start, and none of that is a
hit). Then, through valgrind's gdbserver (``vgdb``), instrumentation goes on,
and after each of `--windows` windows of `--hits` sequential keep-alive hits
the count is dumped: a window's instructions over its hits are what one hit
costs. Windows of 1,000 hits agree to within about 1% (the rest is how client
and server turns interleave, timers and the odd garbage collection), so a change
worth a few percent is visible; the spread is printed. (Instructions are not
time: memory stalls and system calls are not in them. The timed benchmark,
``python -m bench``, is the judge.) vgdb wakes a target blocked in a system
call with ptrace, which valgrind allows under Yama's default ptrace_scope 1
(not under 2 or 3).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.targets import procs
from bench.targets.procs import API_KEY, SEGMENTS, Fleet, Proc

HOT_PATH = f"{SEGMENTS}/1"
STARTUP_UNDER_VALGRIND = 120.0  # seconds; uninstrumented, the gateway starts in about 5
VGDB_TIMEOUT = 60  # seconds for valgrind's gdbserver to carry out one command
_TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Tools:
    """The two valgrind programs used, and the FIFO prefix that pairs them for this run."""

    valgrind: str
    vgdb: str
    prefix: str


@dataclass(frozen=True)
class Count:
    """Instructions per hit for one target, one figure per window."""

    target: str
    windows: tuple[float, ...]

    @property
    def per_hit(self) -> float:
        return statistics.median(self.windows)

    @property
    def spread(self) -> float:
        """(largest - smallest window) / the median: how far the windows agree."""
        return (max(self.windows) - min(self.windows)) / self.per_hit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.icount", description=__doc__)
    parser.add_argument("--warmup", type=int, default=50, help="hits before counting (50)")
    parser.add_argument("--hits", type=int, default=1000, help="hits per window (1000)")
    parser.add_argument("--windows", type=int, default=3, help="windows per target (3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    valgrind, vgdb = shutil.which("valgrind"), shutil.which("vgdb")
    if valgrind is None or vgdb is None:
        print("bench.icount needs valgrind (apt-get install -y valgrind)", file=sys.stderr)
        return 2
    if args.warmup < 1 or args.hits < 1 or args.windows < 1:
        print("--warmup, --hits and --windows must be at least 1", file=sys.stderr)
        return 2
    # One hash seed for every run: string hashes decide dict layouts, and with them
    # part of the instruction count; a random seed per process is noise here.
    os.environ["PYTHONHASHSEED"] = "0"
    workdir = Path(tempfile.mkdtemp(prefix="olcg-icount-"))
    fleet = Fleet(workdir)
    tools = Tools(valgrind, vgdb, str(workdir / "vgdb"))
    try:
        counts = asyncio.run(_count(fleet, tools, args.warmup, args.hits, args.windows))
    finally:
        fleet.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(counts, args.hits, args.windows), flush=True)
    return 0


async def _count(fleet: Fleet, tools: Tools, warmup: int, hits: int, windows: int) -> list[Count]:
    sim = procs.start_simulator(fleet, 1000)
    await procs.wait_ready(sim, f"{SEGMENTS}/version")
    body, content_type = await asyncio.to_thread(_get, sim.port, HOT_PATH, {})
    starters: dict[str, Callable[[list[str]], Proc]] = {
        "gateway": lambda wrapper: procs.start_gateway(fleet, sim.url, 1000, wrapper=wrapper),
        "bare-aiohttp": lambda wrapper: procs.start_bare(
            fleet, body, content_type, wrapper=wrapper
        ),
    }
    # The targets run side by side: instruction counts do not depend on timing.
    per_target = await asyncio.gather(
        *(
            _windows(fleet, tools, name, start, warmup, hits, windows)
            for name, start in starters.items()
        )
    )
    return [Count(name, counts) for name, counts in zip(starters, per_target, strict=True)]


async def _windows(
    fleet: Fleet,
    tools: Tools,
    name: str,
    start: Callable[[list[str]], Proc],
    warmup: int,
    hits: int,
    windows: int,
) -> tuple[float, ...]:
    """Instructions per hit in each window of `hits` hits, counted after `warmup` hits."""
    out = fleet.workdir / f"{name}.callgrind"
    wrapper = [tools.valgrind, "--tool=callgrind", "--instr-atstart=no"]
    wrapper += [f"--callgrind-out-file={out}", f"--vgdb-prefix={tools.prefix}"]
    proc = start(wrapper)
    await procs.wait_ready(proc, "/healthz", within=STARTUP_UNDER_VALGRIND)
    await asyncio.to_thread(_hits, proc.port, warmup)  # the gateway's first is a miss
    await _monitor(tools, proc, "instrumentation", "on")
    for _ in range(windows):
        await asyncio.to_thread(_hits, proc.port, hits)
        await _monitor(tools, proc, "dump")  # to <out>.<n>, and the counts start again
    proc.popen.terminate()
    await asyncio.to_thread(proc.popen.wait)
    return tuple(_total(Path(f"{out}.{n}")) / hits for n in range(1, windows + 1))


async def _monitor(tools: Tools, proc: Proc, *command: str) -> None:
    """Have callgrind carry out `command` in `proc`, through valgrind's gdbserver."""
    argv = [tools.vgdb, f"--pid={proc.popen.pid}", f"--vgdb-prefix={tools.prefix}"]
    argv += [f"--cmd-time-out={VGDB_TIMEOUT}", *command]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"vgdb {' '.join(command)} failed: {out.decode(errors='replace')}")


def _total(dump: Path) -> int:
    found = _TOTALS.search(dump.read_bytes())
    if found is None:
        raise RuntimeError(f"no instruction total in {dump}")
    return int(found.group(1))


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[bytes, str]:
    connection = http.client.HTTPConnection(procs.HOST, port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.read(), response.getheader("Content-Type", "application/json")
    finally:
        connection.close()


def _hits(port: int, n: int) -> None:
    """`n` sequential GETs of the hot id on one keep-alive connection; each must be a 200."""
    connection = http.client.HTTPConnection(procs.HOST, port, timeout=60)
    try:
        for _ in range(n):
            connection.request("GET", HOT_PATH, headers={"X-API-Key": API_KEY})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {HOT_PATH} answered {response.status}")
    finally:
        connection.close()


def render(counts: list[Count], hits: int, windows: int) -> str:
    """One line per target (the median window, and how far the windows agree), then the ratio."""
    lines = [
        f"instructions per cache hit (callgrind; the median of {windows} windows "
        f"of {hits} sequential keep-alive hits)"
    ]
    lines += [
        f"  {count.target:<14} {count.per_hit:>12,.0f}   windows within {count.spread:.1%}"
        for count in counts
    ]
    by_target = {count.target: count.per_hit for count in counts}
    if by_target.get("gateway"):
        ratio = by_target["bare-aiohttp"] / by_target["gateway"]
        lines.append(f"  bare-aiohttp / gateway: {ratio:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
