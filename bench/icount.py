"""`python -m bench.icount`: instructions per cache hit, gateway against bare aiohttp.

Requests/s on a shared machine moves with whatever else runs; an instruction
count does not. Each target runs under ``valgrind --tool=callgrind`` twice, once
answering `--few` sequential keep-alive hits and once `--many`; the difference
of the two totals, divided by the difference in hits, is what one hit costs,
start-up and shutdown cancelled out. Repeated runs of the same code agree to
within about 1% (the rest is how client and server turns interleave), so a
change worth a few percent is visible. (Instructions are not time: memory
stalls and system calls are not in them. The timed benchmark, ``python -m
bench``, is the judge.)
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.targets import procs
from bench.targets.procs import API_KEY, SEGMENTS, Fleet, Proc

HOT_PATH = f"{SEGMENTS}/1"
STARTUP_UNDER_VALGRIND = 300.0  # seconds: Python under callgrind starts ~50x slower
_TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    """Instructions per hit for one target."""

    target: str
    per_hit: float


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.icount", description=__doc__)
    parser.add_argument("--few", type=int, default=200, help="hits in the short run (200)")
    parser.add_argument("--many", type=int, default=1200, help="hits in the long run (1200)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("bench.icount needs valgrind (apt-get install -y valgrind)", file=sys.stderr)
        return 2
    if not 0 <= args.few < args.many:
        print("--few must be below --many", file=sys.stderr)
        return 2
    # One hash seed for every run: string hashes decide dict layouts, and with them
    # part of the instruction count; a random seed per process is noise here.
    os.environ["PYTHONHASHSEED"] = "0"
    workdir = Path(tempfile.mkdtemp(prefix="olcg-icount-"))
    fleet = Fleet(workdir)
    try:
        counts = asyncio.run(_count(fleet, valgrind, args.few, args.many))
    finally:
        fleet.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(counts, args.few, args.many), flush=True)
    return 0


async def _count(fleet: Fleet, valgrind: str, few: int, many: int) -> list[Count]:
    sim = procs.start_simulator(fleet, 1000)
    await procs.wait_ready(sim, f"{SEGMENTS}/version")
    body, content_type = await asyncio.to_thread(_get, sim.port, HOT_PATH, {})
    starters: dict[str, Callable[[str, list[str]], Proc]] = {
        "gateway": lambda name, wrapper: procs.start_gateway(
            fleet, sim.url, 1000, name=name, wrapper=wrapper
        ),
        "bare-aiohttp": lambda name, wrapper: procs.start_bare(
            fleet, body, content_type, name=name, wrapper=wrapper
        ),
    }
    counts = []
    for target, start in starters.items():
        # The two runs of a target go side by side: counts do not depend on timing.
        short, long = await asyncio.gather(
            _instructions(fleet, valgrind, start, f"{target}-few", few),
            _instructions(fleet, valgrind, start, f"{target}-many", many),
        )
        counts.append(Count(target, (long - short) / (many - few)))
    return counts


async def _instructions(
    fleet: Fleet,
    valgrind: str,
    start: Callable[[str, list[str]], Proc],
    name: str,
    hits: int,
) -> int:
    """Total instructions of one target process that answered one warm-up and `hits` hits."""
    out = fleet.workdir / f"{name}.callgrind"
    proc = start(name, [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}"])
    await procs.wait_ready(proc, "/healthz", within=STARTUP_UNDER_VALGRIND)
    await asyncio.to_thread(_hits, proc.port, hits + 1)  # +1: the gateway's first is a miss
    proc.popen.terminate()
    await asyncio.to_thread(proc.popen.wait)
    found = _TOTALS.search(out.read_bytes())
    if found is None:
        raise RuntimeError(f"no instruction total in {out}")
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


def render(counts: list[Count], few: int, many: int) -> str:
    """One line per target, then the ratio."""
    lines = [f"instructions per cache hit (callgrind; {many} - {few} sequential keep-alive hits)"]
    lines += [f"  {count.target:<14} {count.per_hit:>12,.0f}" for count in counts]
    by_target = {count.target: count.per_hit for count in counts}
    if by_target.get("gateway"):
        ratio = by_target["bare-aiohttp"] / by_target["gateway"]
        lines.append(f"  bare-aiohttp / gateway: {ratio:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
