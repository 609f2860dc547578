"""`python -m bench`: start every target on loopback, drive them alternately, print one table.

Targets: the gateway (``olconnect-gateway serve``, memory cache, JSON logs to a
file, metrics on), a bare aiohttp handler returning the same bytes (the
framework's ceiling, same event loop), and nginx as a caching proxy with an
API-key ``map`` in front of the same simulator (when nginx is installed).
Each round runs every scenario against every target in turn (A B A B …);
ratios are taken per round, then the median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import aiohttp

from bench import procs, report
from bench.bare import loop_kind
from bench.load import Loader, Sample
from bench.procs import API_KEY, SEGMENTS, SIM_PASSWORD, SIM_USER, Fleet, Proc
from bench.storm import raise_fd_limit

AUTH = f"X-API-Key: {API_KEY}"
NO_CACHE = "Cache-Control: no-cache"
HOT_ID = 1
MISS_FIRST = 100_001  # misses: ids never used by the hit scenarios
FILL_FIRST = 200_001  # memory scenario: ids of its own
STORM_FIRST = 900_001  # one fresh id per storm
SIM_SEGMENTS = 1_000_000  # derived on demand by the simulator: costs nothing
MEMORY_MB_LIMIT = 200.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s, smaller fills")
    parser.add_argument("--duration", type=float, help="seconds per run (default 5; quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; quick 2)")
    parser.add_argument("-c", "--connections", type=int, default=50)
    parser.add_argument("--ids", type=int, help="ids in the Zipf scenario (default 10000)")
    parser.add_argument("--entries", type=int, help="memory scenario entries (default 100000)")
    parser.add_argument("--storm", type=int, default=1000, help="miss storm requests (1000)")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unrecorded seconds per target first (0: none)"
    )
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-nginx", action="store_true", help="leave nginx out")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return parser


def _settings(args: argparse.Namespace) -> argparse.Namespace:
    quick = args.quick
    args.duration = args.duration or (2.0 if quick else 5.0)
    args.rounds = args.rounds or (2 if quick else 5)
    args.ids = args.ids or (2_000 if quick else 10_000)
    args.entries = args.entries or (10_000 if quick else 100_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _settings(_parser().parse_args(argv))
    raise_fd_limit(args.storm * 2 + 1000)  # inherited by nginx and the gateway
    workdir = Path(tempfile.mkdtemp(prefix="olcg-bench-"))
    fleet = Fleet(workdir)
    try:
        asyncio.run(_bench(args, fleet))
    except KeyboardInterrupt:
        return 130
    finally:
        fleet.stop()
        print(f"# stopped pids: {' '.join(map(str, fleet.pids()))}", flush=True)
        if args.keep:
            print(f"# work directory kept: {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


async def _bench(args: argparse.Namespace, fleet: Fleet) -> None:
    wrk = shutil.which("wrk") if args.loader != "python" else None
    if args.loader == "wrk" and wrk is None:
        raise SystemExit("--loader wrk: wrk is not installed")
    loader = Loader(wrk, fleet.workdir)
    nginx_bin = None if args.no_nginx else procs.find_nginx()
    sim = procs.start_simulator(fleet, SIM_SEGMENTS)
    gateway = procs.start_gateway(fleet, sim.url, args.entries)  # logs in on first use
    await procs.wait_ready(sim, SEGMENTS + "/version")
    await procs.wait_ready(gateway, "/healthz")
    async with aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as http:
        hot = f"{SEGMENTS}/{HOT_ID}"
        async with http.get(gateway.url + hot) as response:
            body = await response.read()
            content_type = response.headers["Content-Type"]
        bare = procs.start_bare(fleet, body, content_type)
        targets = {"gateway": gateway, "bare-aiohttp": bare}
        if nginx_bin:
            token = await _login(http, sim)
            targets["nginx"] = procs.start_nginx(fleet, nginx_bin, sim, token)
        for proc in targets.values():
            await procs.wait_ready(proc, "/healthz")
        cachers: list[str] = [t for t in ("gateway", "nginx") if t in targets]
        for name in cachers:  # prewarm: the hot id and every Zipf id
            await loader_fill(targets[name], f"seq:1:{args.ids}", 32)
        results = report.Results()
        print(
            f"# {len(targets)} targets, loader {loader.name}, {args.rounds} rounds of "
            f"{args.duration:g} s, {args.connections} connections",
            flush=True,
        )
        hit = f"fixed:{hot}"
        scenarios: list[tuple[str, str, list[str], list[str]]] = [
            ("a: hit, one id", hit, [AUTH], list(targets)),
            (f"b: hit, Zipf over {args.ids} ids", f"zipf:1:{args.ids}", [AUTH], cachers),
            ("c: miss, upstream 0 ms", f"uniform:{MISS_FIRST}:100000", [AUTH, NO_CACHE], cachers),
            ("c: miss, upstream 20 ms", f"uniform:{MISS_FIRST}:100000", [AUTH, NO_CACHE], cachers),
        ]
        for scenario, mode, headers, names in scenarios if args.warmup > 0 else []:
            await _latency(http, sim, 0.02 if "20 ms" in scenario else 0.0)
            for name in names:
                await loader.run(
                    targets[name].url,
                    mode,
                    connections=args.connections,
                    duration=args.warmup,
                    headers=headers,
                )
        for round_no in range(args.rounds):
            for scenario, mode, headers, names in scenarios:
                await _latency(http, sim, 0.02 if "20 ms" in scenario else 0.0)
                for name in _rotate(names, round_no):
                    target = targets[name]
                    sample = await _measured(
                        target,
                        loader.run(
                            target.url,
                            mode,
                            connections=args.connections,
                            duration=args.duration,
                            headers=headers,
                        ),
                    )
                    results.add(scenario, name, round_no, sample)
            print(f"# round {round_no + 1}/{args.rounds} done", flush=True)
        await _latency(http, sim, 0.0)
        peak = statistics.median(s.rps for s in results.samples("a: hit, one id", "gateway"))
        half = f"a': hit at half the gateway's peak ({peak / 2:.0f}/s)"
        for round_no in range(args.rounds):
            for name in _rotate(["gateway", "bare-aiohttp"], round_no):
                target = targets[name]
                sample = await _measured(
                    target,
                    loader.run(
                        target.url,
                        hit,
                        connections=args.connections,
                        duration=args.duration,
                        headers=[AUTH],
                        rate=peak / 2,
                    ),
                )
                results.add(half, name, round_no, sample)
        for round_no in range(args.rounds):
            for index, name in enumerate(_rotate(cachers, round_no)):
                storm_id = STORM_FIRST + round_no * 2 + index
                results.storms.setdefault(name, []).append(
                    await _storm(http, sim, targets[name], storm_id, args.storm)
                )
        results.memory = await _memory(http, gateway, args.entries)
    print(
        report.render(
            results,
            half=half,
            loop=loop_kind(),
            loader=loader.name,
            storm_n=args.storm,
            max_entries=args.entries,
            memory_limit=MEMORY_MB_LIMIT,
        ),
        flush=True,
    )


async def _measured(target: Proc, run: Awaitable[Sample]) -> Sample:
    """`run` (a loader run against `target`, not yet started), with the target's CPU per request."""
    before = target.cpu_seconds()
    sample = await run
    spent = target.cpu_seconds() - before
    return dataclasses.replace(sample, cpu_us=spent * 1e6 / max(1, sample.requests))


def _rotate(names: list[str], round_no: int) -> list[str]:
    """A B C, then B C A, …: no target always runs first (or right after a warm-up)."""
    shift = round_no % len(names)
    return names[shift:] + names[:shift]


async def _login(http: aiohttp.ClientSession, sim: Proc) -> str:
    """An upstream token for nginx, obtained once up front as an operator would."""
    auth = aiohttp.BasicAuth(SIM_USER, SIM_PASSWORD)
    async with http.post(
        sim.url + "/rest/serverengine/authentication/login", auth=auth, headers={"X-API-Key": ""}
    ) as response:
        response.raise_for_status()
        return (await response.text()).strip()


async def _latency(http: aiohttp.ClientSession, sim: Proc, seconds: float) -> None:
    """Delay the simulator's document-set answers (not its logins) by `seconds`."""
    body = {"latency": 0, "route_latency": {"document_sets": seconds}}
    async with http.put(sim.url + "/_sim/fault", json=body) as response:
        response.raise_for_status()


async def _upstream_calls(http: aiohttp.ClientSession, sim: Proc) -> int:
    async with http.get(sim.url + "/_sim/calls") as response:
        return int((await response.json())["document_sets"])


async def loader_fill(target: Proc, mode: str, connections: int) -> Sample:
    """Request each path of a ``seq:`` mode once (always the Python client: it stops by itself)."""
    return await Loader(None, Path()).run(
        target.url, mode, connections=connections, duration=3600, headers=[AUTH]
    )


async def _storm(
    http: aiohttp.ClientSession, sim: Proc, target: Proc, storm_id: int, n: int
) -> report.Storm:
    await _latency(http, sim, 0.05)
    before = await _upstream_calls(http, sim)
    argv = [sys.executable, "-m", "bench.storm", "--port", str(target.port), "-n", str(n)]
    argv += ["--path", f"{SEGMENTS}/{storm_id}", "-H", AUTH]
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError("the storm client failed")
    await asyncio.sleep(0.1)  # let a (wrong) second upstream call arrive before counting
    calls = await _upstream_calls(http, sim) - before
    await _latency(http, sim, 0.0)
    return report.Storm.from_json(out.decode().strip().splitlines()[-1], calls)


async def _memory(http: aiohttp.ClientSession, gateway: Proc, entries: int) -> report.Memory:
    """Empty the cache, fill it past max_entries with distinct ids, read RSS and entries."""
    async with http.delete(gateway.url + "/admin/cache") as response:
        response.raise_for_status()
    rss_before = _rss_mb(gateway.popen.pid)
    seen: list[int] = []
    started = time.perf_counter()
    fill = asyncio.ensure_future(
        loader_fill(gateway, f"seq:{FILL_FIRST}:{entries + entries // 10}", 32)
    )
    while not fill.done():
        seen.append(await _cache_entries(http, gateway))
        await asyncio.wait({fill}, timeout=0.5)
    sample = fill.result()
    seen.append(await _cache_entries(http, gateway))
    return report.Memory(
        requests=sample.requests,
        errors=sample.errors,
        seconds=time.perf_counter() - started,
        rss_before_mb=rss_before,
        rss_after_mb=_rss_mb(gateway.popen.pid),
        entries_final=seen[-1],
        entries_max=max(seen),
    )


async def _cache_entries(http: aiohttp.ClientSession, gateway: Proc) -> int:
    async with http.get(gateway.url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("olcg_cache_entries "):
            return int(float(line.split()[1]))
    raise RuntimeError("olcg_cache_entries is missing from /metrics")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
