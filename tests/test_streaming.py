"""Bodies stream through a real `serve` process (SPEC §8.2): 256 MiB each way, memory flat."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from conftest import KEYS
from processes import (  # *_fixture: imported so pytest finds them in this module
    StartGateway,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
)

SIZE = 256 * 1024 * 1024
CHUNK = 1024 * 1024
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
ADMIN = {"X-API-Key": KEYS["admin"]}
BASE = "/rest/serverengine"


def rss(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def block(index: int) -> bytes:
    """The index-th MiB of the test body: varied, so a dropped or repeated chunk shows."""
    return hashlib.sha256(index.to_bytes(8, "big")).digest() * (CHUNK // 32)


async def body(digest: hashlib._Hash) -> AsyncIterator[bytes]:
    for index in range(SIZE // CHUNK):
        chunk = block(index)
        digest.update(chunk)
        yield chunk


async def watch_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss(pid))
        await asyncio.sleep(0.05)


async def test_streaming_256_mib_each_way_keeps_memory_flat(start_gateway: StartGateway) -> None:
    """A 256 MiB upload and its download pass byte for byte; the gateway's RSS grows < 64 MB."""
    gateway = await start_gateway(logging={"level": "info"})
    pid = gateway.child.process.pid
    async with aiohttp.ClientSession(base_url=gateway.url, headers=ADMIN) as session:
        async with session.get(f"{BASE}/filestore") as warm:  # token, pools, imports in place
            assert warm.status == 200
        baseline = rss(pid)
        peak = [baseline]
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_rss(pid, peak, stop))
        try:
            sent = hashlib.sha256()
            async with session.post(
                f"{BASE}/filestore/DataFile?filename=big.bin&persistent=false", data=body(sent)
            ) as answer:
                assert answer.status == 200, await answer.text()
                file_id = await answer.text()
            received = hashlib.sha256()
            size = 0
            async with session.get(f"{BASE}/filestore/file/{file_id}") as answer:
                assert answer.status == 200
                assert answer.headers["Content-Length"] == str(SIZE)
                async for chunk in answer.content.iter_chunked(CHUNK):
                    received.update(chunk)
                    size += len(chunk)
        finally:
            stop.set()
            await watcher
    assert size == SIZE
    assert received.hexdigest() == sent.hexdigest()
    growth = peak[0] - baseline
    print(f"gateway RSS growth while streaming: {growth / 2**20:.1f} MiB")
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / 2**20:.1f} MiB"
