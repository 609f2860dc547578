"""`/metrics` under `serve --workers N`: each worker answers its siblings on a private socket.

A scrape lands on one worker (the kernel picks it). That worker asks every
sibling for a snapshot of its registry over a Unix socket, merges them with
its own (`gateway.telemetry.aggregate`) and answers for the whole gateway.
Nothing is shared or locked on the request path; the cost is one local
round trip per sibling per scrape. A sibling that does not answer within
`SIBLING_TIMEOUT` is left out of that scrape, and the gauges
``olcg_workers`` and ``olcg_workers_reporting`` say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric

from gateway.state import METRICS, WORKERS
from gateway.telemetry.aggregate import Families, Family, WorkerSet, merge, snapshot
from gateway.telemetry.metrics import WORKER_MERGE

# Gauges only a `serve --workers N` scrape has (a single process has no siblings).
WORKER_GAUGES = ("olcg_workers", "olcg_workers_reporting")
SIBLING_TIMEOUT = 2.0  # seconds; well inside Prometheus's default scrape_timeout (10 s)


async def sibling_endpoint(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: give each sibling that connects this worker's snapshot, then close.

    The protocol is that alone (no request, JSON until EOF): the socket is private
    to the workers of one supervisor. The sockets are made here, not by the event
    loop, which may not take an abstract (Linux) socket name.
    """
    workers = app[WORKERS]
    registry = app[METRICS].registry

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(ConnectionError):  # the sibling gave up
                # json allows NaN and infinities (Python reads them back); metrics hold both.
                writer.write(json.dumps(snapshot(registry)).encode())
                await writer.drain()
        finally:
            writer.close()

    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(workers.socket(workers.index))
    listening.listen()
    server = await asyncio.start_unix_server(answer, sock=listening)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def _sibling_snapshot(workers: WorkerSet, index: int) -> list[Family] | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.setblocking(False)
    try:
        # A local connect completes at once or fails (EAGAIN: a stuck sibling's backlog
        # is full); it never waits on the loop.
        connection.connect(workers.socket(index))
        async with asyncio.timeout(SIBLING_TIMEOUT):
            reader, writer = await asyncio.open_unix_connection(sock=connection)
            try:
                families: list[Family] = json.loads(await reader.read())
            finally:
                writer.close()
        return families
    except (OSError, TimeoutError, ValueError):
        connection.close()
        return None  # starting, stopping or stuck: left out, and counted as missing


async def gateway_exposition(app: web.Application) -> bytes:
    """The Prometheus text exposition of every worker's metrics, merged."""
    workers = app[WORKERS]
    others = workers.others()
    answers = await asyncio.gather(*(_sibling_snapshot(workers, i) for i in others))
    snapshots = {workers.index: snapshot(app[METRICS].registry)}
    snapshots.update({i: a for i, a in zip(others, answers, strict=True) if a is not None})
    metrics = merge(snapshots, WORKER_MERGE)
    metrics.extend(_worker_gauges(workers.count, len(snapshots)))
    return generate_latest(Families(metrics))


def _worker_gauges(count: int, reporting: int) -> list[Metric]:
    workers, reporting_name = WORKER_GAUGES
    total = Metric(workers, "Worker processes of this gateway (serve --workers).", "gauge")
    total.add_sample(workers, {}, count)
    answered = Metric(
        reporting_name,
        "Workers whose metrics this scrape holds; fewer than olcg_workers while one is "
        "starting, stopping or stuck.",
        "gauge",
    )
    answered.add_sample(reporting_name, {}, reporting)
    return [total, answered]
