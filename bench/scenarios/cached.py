"""Scenarios a to e, the cached reads: hits, misses, hits at half the peak, miss storms, memory.

(a) hits on one id; (b) hits over `--ids` ids with Zipf popularity (prewarmed);
(c) misses forced with ``Cache-Control: no-cache`` over 100,000 uniform ids, the
simulator answering at once or after 20 ms; (a') hits at half the gateway's
peak rate; (d) 1,000 waiters on one uncached id with a 50 ms upstream; (e) the
cache filled past ``max_entries``, entries and RSS sampled.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

from bench.clients.load import Loader, Sample
from bench.harness import AUTH, KEY, Bench, calls, rotate, set_faults
from bench.report import results
from bench.report.verdicts import HIT
from bench.targets.procs import SEGMENTS, Proc

NO_CACHE = "Cache-Control: no-cache"
HOT_ID = 1
MISS_FIRST = 100_001  # misses: ids never used by the hit scenarios
FILL_FIRST = 200_001  # memory scenario: ids of its own
STORM_FIRST = 900_001  # one fresh id per storm


async def hits_and_misses(bench: Bench, targets: dict[str, Proc], cachers: list[str]) -> None:
    """Scenarios a, b, c (every round runs each against each target in turn), then a'."""
    args = bench.args
    for name in cachers:  # prewarm: the hot id and every Zipf id
        await fill(targets[name], f"seq:1:{args.ids}", 32)
    hit = f"fixed:{SEGMENTS}/{HOT_ID}"
    scenarios: list[tuple[str, str, list[str], list[str]]] = [
        (HIT, hit, [AUTH], [n for n in ("gateway", "bare-aiohttp", "nginx") if n in targets]),
        (f"b: hit, Zipf over {args.ids} ids", f"zipf:1:{args.ids}", [AUTH], cachers),
        ("c: miss, upstream 0 ms", f"uniform:{MISS_FIRST}:100000", [AUTH, NO_CACHE], cachers),
        ("c: miss, upstream 20 ms", f"uniform:{MISS_FIRST}:100000", [AUTH, NO_CACHE], cachers),
    ]
    for scenario, mode, headers, names in scenarios if args.warmup > 0 else []:
        await _latency(bench, 0.02 if "20 ms" in scenario else 0.0)
        for name in names:
            await bench.loader.run(
                targets[name].url,
                mode,
                connections=args.connections,
                duration=args.warmup,
                headers=headers,
            )
    for round_no in range(args.rounds):
        for scenario, mode, headers, names in scenarios:
            await _latency(bench, 0.02 if "20 ms" in scenario else 0.0)
            for name in rotate(names, round_no):
                sample = await bench.drive(targets[name], mode, headers)
                bench.results.add(scenario, name, round_no, sample)
        print(f"# cached reads: round {round_no + 1}/{args.rounds} done", flush=True)
    await _latency(bench, 0.0)
    peak = statistics.median(s.rps for s in bench.results.samples(HIT, "gateway"))
    half = f"a': hit at half the gateway's peak ({peak / 2:.0f}/s)"
    bench.results.half = half
    for round_no in range(args.rounds):
        for name in rotate(["gateway", "bare-aiohttp"], round_no):
            sample = await bench.drive(targets[name], hit, [AUTH], rate=peak / 2)
            bench.results.add(half, name, round_no, sample)


async def storms(bench: Bench, targets: dict[str, Proc], cachers: list[str]) -> None:
    """Scenario d: one miss storm per round and target."""
    for round_no in range(bench.args.rounds):
        for index, name in enumerate(rotate(cachers, round_no)):
            storm_id = STORM_FIRST + round_no * 2 + index
            bench.results.storms.setdefault(name, []).append(
                await _storm(bench, targets[name], storm_id, bench.args.storm)
            )


async def _latency(bench: Bench, seconds: float) -> None:
    """Delay the simulator's document-set answers (not its logins) by `seconds`."""
    await set_faults(bench.http, bench.sim, latency=0, route_latency={"document_sets": seconds})


async def fill(target: Proc, mode: str, connections: int) -> Sample:
    """Request each path of a ``seq:`` mode once (always the Python client: it stops by itself)."""
    return await Loader(None, Path()).run(
        target.url, mode, connections=connections, duration=3600, headers=[AUTH]
    )


async def _storm(bench: Bench, target: Proc, storm_id: int, n: int) -> results.Storm:
    await _latency(bench, 0.05)
    before = (await calls(bench.http, bench.sim))["document_sets"]
    argv = [sys.executable, "-m", "bench.clients.storm", "--port", str(target.port), "-n", str(n)]
    argv += ["--path", f"{SEGMENTS}/{storm_id}", "-H", AUTH]
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError("the storm client failed")
    await asyncio.sleep(0.1)  # let a (wrong) second upstream call arrive before counting
    made = (await calls(bench.http, bench.sim))["document_sets"] - before
    await _latency(bench, 0.0)
    return results.Storm.from_json(out.decode().strip().splitlines()[-1], made)


async def memory(bench: Bench, gateway: Proc) -> None:
    """Scenario e: empty the cache, fill it past max_entries with distinct ids, read RSS."""
    http, entries = bench.http, bench.args.entries
    async with http.delete(gateway.url + "/admin/cache", headers=KEY) as response:
        response.raise_for_status()
    rss_before = gateway.rss_mb()
    seen: list[int] = []
    started = time.perf_counter()
    filling = asyncio.ensure_future(
        fill(gateway, f"seq:{FILL_FIRST}:{entries + entries // 10}", 32)
    )
    while not filling.done():
        seen.append(await _cache_entries(http, gateway))
        await asyncio.wait({filling}, timeout=0.5)
    sample = filling.result()
    seen.append(await _cache_entries(http, gateway))
    bench.results.memory = results.Memory(
        requests=sample.requests,
        errors=sample.errors,
        seconds=time.perf_counter() - started,
        rss_before_mb=rss_before,
        rss_after_mb=gateway.rss_mb(),
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
