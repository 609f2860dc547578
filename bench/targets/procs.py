"""The processes under test: simulator, gateway, bare aiohttp; their configs; cleanup.

nginx, the C reference, has its own module (`bench.targets.nginx`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from gateway.config.model import key_digest

HOST = "127.0.0.1"
RSS_SAMPLE_EVERY = 0.01  # seconds between RSS samples of `rss_peak`
SIM_USER = "ol-admin"
SIM_PASSWORD = "bench-secret"  # noqa: S105 - a throwaway password for a loopback simulator
API_KEY = "olcg_bench_0123456789abcdef0123456789"
SEGMENTS = "/rest/serverengine/entity/jobsegments"
SCOPES = ("read", "write", "run", "files", "admin")  # every route the bench drives


def free_port() -> int:
    """A free loopback port (the usual tiny race is acceptable for a benchmark)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Proc:
    """One started process and where it listens."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the process and its children (nginx's worker)."""
        return sum(_cpu_seconds(p) for p in self.pids())

    def pids(self) -> list[int]:
        """The process and its children (nginx's worker, the workers of `serve --workers`)."""
        pid = self.popen.pid
        try:
            listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:  # a kernel built without CONFIG_PROC_CHILDREN
            listed = []
        return [pid, *map(int, listed)]

    def rss_mb(self) -> float:
        """Resident memory of the process and its children, in MiB."""
        return sum(rss_mb(p) for p in self.pids())


def rss_mb(pid: int) -> float:
    """`VmRSS` of one process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextlib.asynccontextmanager
async def rss_peak(proc: Proc) -> AsyncIterator[list[float]]:
    """The highest RSS of `proc` seen while the block runs (in the one-item list yielded)."""
    peak = [proc.rss_mb()]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.rss_mb())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RSS_SAMPLE_EVERY)

    sampler = asyncio.ensure_future(sample())
    try:
        yield peak
    finally:
        stop.set()
        await sampler
        peak[0] = max(peak[0], proc.rss_mb())


def _cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid`, to the nanosecond when the kernel keeps schedstat.

    /proc/<pid>/stat counts in clock ticks (10 ms): fine over a 5 s run, too coarse
    for a transfer that takes a tenth of a second.
    """
    try:
        threads = list(Path(f"/proc/{pid}/task").glob("*/schedstat"))
        if threads:
            return sum(int(stat.read_text().split()[0]) for stat in threads) / 1e9
    except (FileNotFoundError, ValueError, IndexError):
        pass  # a thread ended while read: count ticks this time
    # /proc/<pid>/stat: fields 14 and 15 (after the parenthesised name) are utime and stime.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Fleet:
    """Every process the run started; `stop()` ends them all, whatever happened."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], port: int, stdin: bytes | None = None) -> Proc:
        """Start `argv`, output to `<name>.log`; `stdin` (secrets) is written and closed."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 - our own interpreter and tools
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            )
        if stdin is not None and popen.stdin is not None:
            popen.stdin.write(stdin)
            popen.stdin.close()
        proc = Proc(name, popen, port, log)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()

    def pids(self) -> list[int]:
        return [proc.popen.pid for proc in self.procs]


async def wait_ready(proc: Proc, path: str, within: float = 20.0) -> None:
    """Poll `path` until it answers (any status), or fail with the process's log."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                break
            try:
                async with session.get(proc.url + path) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    tail = proc.log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{proc.name} did not start:\n{tail}")


def start_simulator(fleet: Fleet, segments: int, *, name: str = "simulator") -> Proc:
    """The simulator with its `/_sim` controls, spooling File Store uploads into the work dir."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "simulator", "--port", str(port)]
    argv += ["--username", SIM_USER, "--password", SIM_PASSWORD]
    argv += ["--segments", str(segments), "--expose-controls"]
    # Scenario f polls a finished operation's progress on and on; OL Connect (and the
    # simulator by default) answers 404 once it has said `done`.
    argv += ["--keep-finished-operations"]
    argv += ["--spool-dir", str(fleet.workdir / f"{name}-spool")]
    # Scenario f polls one finished operation over and over: keep answering `done`.
    argv += ["--keep-finished-operations"]
    return fleet.start(name, argv, port)


def start_gateway(
    fleet: Fleet,
    upstream: str,
    max_entries: int,
    *,
    name: str = "gateway",
    wrapper: Sequence[str] = (),
    workers: int = 1,
    cache: Mapping[str, object] | None = None,
) -> Proc:
    """`olconnect-gateway serve --config <generated>`, as deployed: JSON logs to a file.

    Args:
        name: the process's name in the fleet (its log and config file names).
        wrapper: a command that runs the gateway, e.g. valgrind and its options.
        workers: `serve --workers N` (N > 1: a supervisor and N processes on one port).
        cache: the `cache:` section (default: memory, `max_entries`).
    """
    port = free_port()
    config = {
        "server": {"host": HOST, "port": port, "shutdown_timeout": 2},
        "upstream": {"url": upstream, "username": SIM_USER, "password": SIM_PASSWORD},
        "cache": cache or {"backend": "memory", "max_entries": max_entries},
        "clients": [
            {
                "name": "bench",
                "key_sha256": key_digest(API_KEY),
                "scopes": list(SCOPES),
                # The one client: every upstream slot is its share (the default is a
                # quarter, which would cap the miss and forward scenarios at 25 in flight).
                "max_concurrent": 100,
            }
        ],
        "logging": {"level": "info", "format": "json"},
    }
    path = fleet.workdir / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    # The interpreter itself, not the console script: a wrapper such as valgrind
    # must see the Python binary it instruments.
    command = [
        *wrapper,
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--config",
        str(path),
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    return fleet.start(name, command, port)


def start_bare(
    fleet: Fleet,
    body: bytes,
    content_type: str,
    *,
    name: str = "bare-aiohttp",
    wrapper: Sequence[str] = (),
) -> Proc:
    """The bare aiohttp handler (`bench.targets.bare`) answering `body`; arguments as for the
    gateway."""
    port = free_port()
    body_file = fleet.workdir / f"{name}.body"
    body_file.write_bytes(body)
    argv = [*wrapper, sys.executable, "-m", "bench.targets.bare", "--port", str(port)]
    argv += ["--body-file", str(body_file), "--content-type", content_type]
    return fleet.start(name, argv, port)


def start_bare_proxy(fleet: Fleet, upstream: str, token: str) -> Proc:
    """The bare aiohttp pass-through (`bench.targets.bare_proxy`) in front of `upstream`."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.targets.bare_proxy", "--port", str(port)]
    argv += ["--upstream", upstream]
    return fleet.start("bare-proxy", argv, port, stdin=f"{token}\n{API_KEY}\n".encode())


def start_redis(fleet: Fleet, redis_server: str) -> Proc:
    """A private redis-server on loopback, nothing persisted."""
    port = free_port()
    argv = [redis_server, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"]
    return fleet.start("redis", argv, port)


async def wait_listening(proc: Proc, within: float = 20.0) -> None:
    """Poll until `proc` accepts TCP connections (a process that speaks no HTTP)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and proc.popen.poll() is None:
        try:
            _, writer = await asyncio.open_connection(HOST, proc.port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(
        f"{proc.name} did not start:\n{proc.log.read_text(errors='replace')[-2000:]}"
    )
