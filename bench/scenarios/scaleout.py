"""Scenario w, scale-out: cache hits on one id through ``serve --workers 1`` and ``--workers 2``
(memory cache), and ``--workers 2`` sharing a Redis cache when redis-server is installed:
with its near cache (the default, ``cache.near_ttl`` 1 s) and without (``near_ttl: 0``,
every hit a Redis round trip), so the run shows what the near cache buys.

The load generator is pinned to CPU 0 (``sched_setaffinity`` before it starts), so
on a 2-core machine the gateway has one core to itself and shares the other with
the load; the kernel places the gateway's processes. The CPU per request counts
the supervisor and every worker (and not Redis).
"""

from __future__ import annotations

import importlib.util
import shutil

from bench.harness import AUTH, Bench, rotate
from bench.targets import procs
from bench.targets.procs import SEGMENTS, Proc

SCENARIO = "w: hit, one id, load pinned to CPU 0"
LOAD_CPU = 0
ONE, TWO, TWO_REDIS = "gateway --workers 1", "gateway --workers 2", "gateway --workers 2, redis"
TWO_REDIS_FAR = "gateway --workers 2, redis, near_ttl 0"


async def scale_out(bench: Bench) -> None:
    """Start the gateways, warm every worker, then alternate them round by round."""
    fleet, upstream = bench.fleet, bench.sim.url
    targets: dict[str, Proc] = {
        ONE: procs.start_gateway(fleet, upstream, 1000, name="gateway-w1"),
        TWO: procs.start_gateway(fleet, upstream, 1000, name="gateway-w2", workers=2),
    }
    redis_server = shutil.which("redis-server")
    if redis_server is not None and importlib.util.find_spec("redis") is not None:
        redis = procs.start_redis(fleet, redis_server)
        await procs.wait_listening(redis)
        cache = {"backend": "redis", "redis_url": f"redis://{procs.HOST}:{redis.port}/0"}
        targets[TWO_REDIS] = procs.start_gateway(
            fleet, upstream, 1000, name="gateway-w2-redis", workers=2, cache=cache
        )
        far = {**cache, "redis_prefix": "far:", "near_ttl": 0}
        targets[TWO_REDIS_FAR] = procs.start_gateway(
            fleet, upstream, 1000, name="gateway-w2-redis-far", workers=2, cache=far
        )
    for proc in targets.values():
        await procs.wait_ready(proc, "/healthz")
    hit = f"fixed:{SEGMENTS}/1"
    # Every worker misses once: a short run over many connections reaches them all.
    for proc in targets.values():
        await bench.loader.run(
            proc.url, hit, connections=bench.args.connections, duration=1, headers=[AUTH]
        )
    names = list(targets)
    for round_no in range(bench.args.rounds):
        for name in rotate(names, round_no):
            sample = await bench.drive(targets[name], hit, [AUTH], cpu=LOAD_CPU)
            bench.results.add(SCENARIO, name, round_no, sample)
        print(f"# scale-out: round {round_no + 1}/{bench.args.rounds} done", flush=True)
