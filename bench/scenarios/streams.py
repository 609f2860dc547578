"""Scenario s, streamed bodies: a large File Store download and upload through the gateway,
through nginx ``proxy_pass`` (unbuffered both ways), through a bare aiohttp pass-through,
and straight to the simulator.

The download is a file the simulator generates while it sends it (no upload
first); the upload is a file on disk sent with ``sendfile`` and spooled to disk
by the simulator, then deleted. During every transfer the target's ``VmRSS`` is
sampled every 10 ms; its growth is the highest sample over the target's RSS
before its first transfer of the run ("where it started").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bench.clients import transfer
from bench.harness import KEY, Bench, rotate
from bench.report.results import StreamRun
from bench.targets.procs import HOST, Proc, rss_peak

FILESTORE = "/rest/serverengine/filestore"
MIB = 1024 * 1024


async def streams(bench: Bench, targets: dict[str, Proc], token: str) -> None:
    """Each round: every target downloads, then every target uploads, in rotating order."""
    size = bench.args.stream_mib * MIB
    credentials = {name: dict(KEY) for name in targets}
    credentials["direct"] = {"auth_token": token}
    file_id = await _generated_file(bench, size)
    source = bench.fleet.workdir / "upload.bin"
    await asyncio.to_thread(transfer.write_source, source, size)
    baseline = {name: proc.rss_mb() for name, proc in targets.items()}
    download = f"{FILESTORE}/file/{file_id}"
    upload = f"{FILESTORE}/DataFile?filename=bench-upload.bin&persistent=false"
    octets = {"Content-Type": "application/octet-stream"}
    for round_no in range(bench.args.stream_rounds):
        for name in rotate(list(targets), round_no):
            proc = targets[name]
            moved = await _timed(
                proc,
                baseline[name],
                transfer.download,
                HOST,
                proc.port,
                download,
                credentials[name],
            )
            bench.results.streams.append(_run("download", name, round_no, size, *moved))
        for name in rotate(list(targets), round_no):
            proc = targets[name]
            headers = {**credentials[name], **octets}
            moved = await _timed(
                proc, baseline[name], transfer.upload, HOST, proc.port, upload, headers, source
            )
            bench.results.streams.append(_run("upload", name, round_no, size, *moved))
            await _delete(bench, token, moved[0])
        print(f"# streams: round {round_no + 1}/{bench.args.stream_rounds} done", flush=True)
    source.unlink()


def _run(
    direction: str,
    target: str,
    round_no: int,
    size: int,
    done: transfer.Transfer,
    cpu: float,
    growth: float,
) -> StreamRun:
    return StreamRun(
        direction=direction,
        target=target,
        round_no=round_no,
        size=done.size,
        seconds=done.seconds,
        cpu_seconds=cpu,
        rss_growth_mb=growth,
        ok=done.status == 200 and done.size == size,
    )


async def _timed(
    proc: Proc, baseline: float, move: Callable[..., transfer.Transfer], *args: object
) -> tuple[transfer.Transfer, float, float]:
    """Run the blocking transfer `move(*args)` in a thread; its CPU cost and the RSS growth."""
    cpu_before = proc.cpu_seconds()
    async with rss_peak(proc) as peak:
        done = await asyncio.to_thread(move, *args)
    return done, proc.cpu_seconds() - cpu_before, max(0.0, peak[0] - baseline)


async def _generated_file(bench: Bench, size: int) -> int:
    """A File Store file of `size` bytes that the simulator makes as it sends it."""
    body = {"name": "bench-download.bin", "size": size}
    async with bench.http.post(bench.sim.url + "/_sim/files", json=body) as response:
        response.raise_for_status()
        return int((await response.json())["id"])


async def _delete(bench: Bench, token: str, done: transfer.Transfer) -> None:
    """Remove an uploaded file from the simulator's spool (the answer to an upload is its id)."""
    if done.status != 200 or not done.answer.isdigit():
        return
    path = f"{bench.sim.url}{FILESTORE}/delete/{done.answer}"
    async with bench.http.get(path, headers={"auth_token": token}) as response:
        response.raise_for_status()
