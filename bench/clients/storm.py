"""The miss storm client: N keep-alive connections, then N requests for one id at once.

``python -m bench.clients.storm --host 127.0.0.1 --port P --path /…/jobsegments/900001 -n 1000``
prints one JSON line: answered, statuses, p50_ms, p99_ms, max_ms.

Connections are opened (and proven with one request each to ``--warm-path``) in
batches first, so the storm measures waiting for one upstream load, not the
listen backlog. Raw asyncio streams keep the client's own cost per request low.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import resource
import time

from bench.clients.pyload import percentile

BATCH = 100


def raise_fd_limit(needed: int) -> None:
    """Lift the soft open-files limit towards the hard one when `needed` is above it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    return await _read_response(reader)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


def _request(host: str, port: int, path: str, headers: list[str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    return "\r\n".join(lines).encode()


async def run(
    host: str, port: int, path: str, warm_path: str, n: int, headers: list[str]
) -> dict[str, object]:
    """Open `n` connections, then fire one request on each at once and time them."""
    warm = _request(host, port, warm_path, headers)
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for start in range(0, n, BATCH):
            batch = await asyncio.gather(
                *(asyncio.open_connection(host, port) for _ in range(min(BATCH, n - start)))
            )
            await asyncio.gather(*(_exchange(r, w, warm) for r, w in batch))
            streams.extend(batch)
        storm = _request(host, port, path, headers)
        sent: list[float] = []
        for _, writer in streams:  # all requests leave before any answer is read
            sent.append(time.perf_counter())
            writer.write(storm)

        async def answer(index: int) -> tuple[int, float]:
            status = await _read_response(streams[index][0])
            return status, time.perf_counter() - sent[index]

        results = await asyncio.gather(*(answer(i) for i in range(len(streams))))
    finally:
        for _, writer in streams:
            writer.close()
        for _, writer in streams:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    latencies = sorted(seconds for _, seconds in results)
    statuses = collections.Counter(str(status) for status, _ in results)
    return {
        "answered": len(results),
        "statuses": dict(statuses),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--warm-path", default="/healthz")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("-H", "--header", action="append", default=[], help="Name: value")
    args = parser.parse_args()
    raise_fd_limit(args.n + 100)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    summary = asyncio.run(run(args.host, args.port, args.path, args.warm_path, args.n, args.header))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
