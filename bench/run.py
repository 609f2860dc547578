"""`python -m bench`: start every target on loopback, drive them alternately, print one table.

Targets: the gateway (``olconnect-gateway serve``, memory cache, JSON logs to a
file, metrics on), a bare aiohttp handler returning the same bytes (the
framework's ceiling, same event loop), a bare aiohttp pass-through (the
framework's ceiling for a forward), nginx as a caching proxy and an unbuffered
pass-through with an API-key ``map`` in front of the same simulator (when nginx
is installed), and the simulator itself ("direct").
Each round runs every scenario against every target in turn (A B A B …);
ratios are taken per round, then the median is reported.

Scenarios: cached reads a to e (`bench.scenarios.cached`), forwarded requests f
(`bench.scenarios.forward`), streams s (`bench.scenarios.streams`), an integrator's day i
(`bench.scenarios.integrator`), scale-out w (`bench.scenarios.scaleout`), clients waiting
on operations o (`bench.scenarios.waiting`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

import aiohttp

from bench.clients.load import Loader
from bench.clients.storm import raise_fd_limit
from bench.harness import KEY, Bench, login, set_faults
from bench.report import table
from bench.report.results import Results
from bench.scenarios import cached
from bench.scenarios.forward import forwarded
from bench.scenarios.integrator import integrator
from bench.scenarios.scaleout import scale_out
from bench.scenarios.streams import streams
from bench.scenarios.waiting import waiting
from bench.targets import procs
from bench.targets.bare import loop_kind
from bench.targets.nginx import find_nginx, start_nginx
from bench.targets.procs import SEGMENTS, Fleet

SIM_SEGMENTS = 1_000_000  # derived on demand by the simulator: costs nothing
SCENARIOS = ("cached", "forwarded", "streams", "day", "scale", "waiting")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s, smaller sizes")
    parser.add_argument("--duration", type=float, help="seconds per run (default 5; quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; quick 2)")
    parser.add_argument("-c", "--connections", type=int, default=50)
    parser.add_argument("--ids", type=int, help="ids in the Zipf scenario (default 10000)")
    parser.add_argument("--entries", type=int, help="memory scenario entries (default 100000)")
    parser.add_argument("--storm", type=int, default=1000, help="miss storm requests (1000)")
    parser.add_argument("--stream-mib", type=int, help="stream size, MiB (default 256; quick 64)")
    parser.add_argument("--stream-rounds", type=int, help="stream rounds (default 3; quick 1)")
    parser.add_argument(
        "--day-tasks", type=int, help="integrator's tasks (default 1000; quick 100)"
    )
    parser.add_argument("--day-apps", type=int, default=16, help="integrator apps at once (16)")
    parser.add_argument(
        "--waiters", type=int, default=1000, help="clients on the running operations (1000)"
    )
    parser.add_argument(
        "--wait-seconds", type=float, help="each waiting phase, s (default 10; quick 4)"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"a comma-separated subset of {','.join(SCENARIOS)} (default all)",
    )
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
    args.stream_mib = args.stream_mib or (64 if quick else 256)
    args.stream_rounds = args.stream_rounds or (1 if quick else 3)
    args.day_tasks = args.day_tasks or (100 if quick else 1000)
    args.wait_seconds = args.wait_seconds or (4.0 if quick else 10.0)
    chosen = {name.strip() for name in args.scenarios.split(",") if name.strip()}
    if not chosen <= set(SCENARIOS):
        raise SystemExit(f"--scenarios: unknown {sorted(chosen - set(SCENARIOS))}")
    args.scenarios = chosen
    return args


def main(argv: list[str] | None = None) -> int:
    args = _settings(_parser().parse_args(argv))
    # Inherited by nginx and the gateways; each waiter holds a connection at both ends.
    raise_fd_limit(max(args.storm, args.waiters) * 2 + 1000)
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
    nginx_bin = None if args.no_nginx else find_nginx()
    sim = procs.start_simulator(fleet, SIM_SEGMENTS)
    gateway = procs.start_gateway(fleet, sim.url, args.entries)  # logs in on first use
    await procs.wait_ready(sim, SEGMENTS + "/version")
    await procs.wait_ready(gateway, "/healthz")
    async with aiohttp.ClientSession() as http:
        bench = Bench(args, fleet, loader, http, sim, Results())
        async with http.get(f"{gateway.url}{SEGMENTS}/{cached.HOT_ID}", headers=KEY) as answer:
            body = await answer.read()
            content_type = answer.headers["Content-Type"]
        bare = procs.start_bare(fleet, body, content_type)
        token = await login(http, sim)
        targets = {"gateway": gateway, "bare-aiohttp": bare}
        if nginx_bin:
            targets["nginx"] = start_nginx(fleet, nginx_bin, sim, token)
        for proc in targets.values():
            await procs.wait_ready(proc, "/healthz")
        cachers: list[str] = [t for t in ("gateway", "nginx") if t in targets]
        proxies = {name: targets[name] for name in cachers}
        if args.scenarios & {"forwarded", "streams"}:
            bare_proxy = procs.start_bare_proxy(fleet, sim.url, token)
            await procs.wait_ready(bare_proxy, "/healthz")
            proxies["bare-aiohttp-proxy"] = bare_proxy
        proxies["direct"] = sim
        print(
            f"# {len(targets)} targets, loader {loader.name}, {args.rounds} rounds of "
            f"{args.duration:g} s, {args.connections} connections, "
            f"scenarios {','.join(s for s in SCENARIOS if s in args.scenarios)}",
            flush=True,
        )
        if "cached" in args.scenarios:
            await cached.hits_and_misses(bench, targets, cachers)
            await cached.storms(bench, targets, cachers)
        await set_faults(http, sim, latency=0, route_latency={})
        if "forwarded" in args.scenarios:
            await forwarded(bench, proxies, token)
        if "streams" in args.scenarios:
            await streams(bench, proxies, token)
        if "day" in args.scenarios:
            await integrator(bench)
        if "scale" in args.scenarios:
            await scale_out(bench)
        if "waiting" in args.scenarios:
            await waiting(bench)
        if "cached" in args.scenarios:  # last: it empties and refills the gateway's cache
            await cached.memory(bench, gateway)
    settings = {"storm": args.storm, "entries": args.entries, "stream_mib": args.stream_mib}
    print(
        table.render(bench.results, loop=loop_kind(), loader=loader.name, settings=settings),
        flush=True,
    )
