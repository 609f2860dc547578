"""A Python load generator, run as its own process when wrk is not installed.

``python -m bench.clients.pyload --url http://127.0.0.1:8080 --mode fixed:/path -c 50 -d 5``
prints one JSON line: requests, errors (non-2xx or failed), rps, p50_ms, p99_ms.
With ``--rate R`` each of the connections sends at a fixed pace (R/c per second)
and latency is counted from the intended send time, so a stall is not hidden.
With a ``seq:`` mode it sends each path once and stops (cache fill).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Iterator

import aiohttp

from bench.clients.paths import path_stream


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def _worker(
    session: aiohttp.ClientSession,
    base: str,
    paths: Iterator[str],
    deadline: float,
    interval: float,
    request: tuple[str, bytes | None],
    latencies: list[float],
    errors: list[int],
) -> None:
    method, body = request
    next_send = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now >= deadline:
            return
        if interval:
            if next_send > now:
                await asyncio.sleep(next_send - now)
            started = next_send
            next_send += interval
        else:
            started = now
        path = next(paths, None)
        if path is None:
            return
        try:
            async with session.request(method, base + path, data=body) as response:
                await response.read()
                ok = 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        latencies.append(time.perf_counter() - started)
        if not ok:
            errors[0] += 1


async def run(
    base: str,
    mode: str,
    connections: int,
    duration: float,
    rate: float,
    headers: dict[str, str],
    method: str = "GET",
    body: bytes | None = None,
) -> dict[str, float]:
    """Drive `base` and return the summary."""
    paths = path_stream(mode)
    latencies: list[float] = []
    errors = [0]
    interval = connections / rate if rate > 0 else 0.0
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as s:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(
            *(
                _worker(s, base, paths, deadline, interval, (method, body), latencies, errors)
                for _ in range(connections)
            )
        )
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="base URL, no path")
    parser.add_argument("--mode", required=True, help="see bench.clients.paths.path_stream")
    parser.add_argument("-c", "--connections", type=int, default=50)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=0.0, help="total requests/s (0: flat out)")
    parser.add_argument("-H", "--header", action="append", default=[], help="Name: value")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="", help="sent with every request when not empty")
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    body = args.body.encode() or None
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    summary = asyncio.run(
        run(
            args.url,
            args.mode,
            args.connections,
            args.duration,
            args.rate,
            headers,
            args.method,
            body,
        )
    )
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
