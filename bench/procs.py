"""The processes under test: simulator, gateway, bare aiohttp, nginx; their configs; cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from gateway.config import key_digest

HOST = "127.0.0.1"
SIM_USER = "ol-admin"
SIM_PASSWORD = "bench-secret"  # noqa: S105 - a throwaway password for a loopback simulator
API_KEY = "olcg_bench_0123456789abcdef0123456789"
SEGMENTS = "/rest/serverengine/entity/jobsegments"


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
        pid = self.popen.pid
        try:
            listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:  # a kernel built without CONFIG_PROC_CHILDREN
            listed = []
        return sum(_cpu_seconds(p) for p in [pid, *map(int, listed)])


def _cpu_seconds(pid: int) -> float:
    # /proc/<pid>/stat: fields 14 and 15 (after the parenthesised name) are utime and stime.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Fleet:
    """Every process the run started; `stop()` ends them all, whatever happened."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], port: int) -> Proc:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 - our own interpreter and tools
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
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


def start_simulator(fleet: Fleet, segments: int) -> Proc:
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "simulator", "--port", str(port)]
    argv += ["--username", SIM_USER, "--password", SIM_PASSWORD]
    argv += ["--segments", str(segments), "--expose-controls"]
    return fleet.start("simulator", argv, port)


def start_gateway(
    fleet: Fleet,
    upstream: str,
    max_entries: int,
    *,
    name: str = "gateway",
    wrapper: Sequence[str] = (),
) -> Proc:
    """`olconnect-gateway serve --config <generated>`, as deployed: JSON logs to a file.

    Args:
        name: the process's name in the fleet (its log and config file names).
        wrapper: a command that runs the gateway, e.g. valgrind and its options.
    """
    port = free_port()
    config = {
        "server": {"host": HOST, "port": port, "shutdown_timeout": 2},
        "upstream": {"url": upstream, "username": SIM_USER, "password": SIM_PASSWORD},
        "cache": {"backend": "memory", "max_entries": max_entries},
        "clients": [
            {
                "name": "bench",
                "key_sha256": key_digest(API_KEY),
                "scopes": ["read", "write", "admin"],
            }
        ],
        "logging": {"level": "info", "format": "json"},
    }
    path = fleet.workdir / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    # The interpreter itself, not the console script: a wrapper such as valgrind
    # must see the Python binary it instruments.
    command = [*wrapper, sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
    return fleet.start(name, command, port)


def start_bare(
    fleet: Fleet,
    body: bytes,
    content_type: str,
    *,
    name: str = "bare-aiohttp",
    wrapper: Sequence[str] = (),
) -> Proc:
    """The bare aiohttp handler (`bench.bare`) answering `body`; arguments as for the gateway."""
    port = free_port()
    body_file = fleet.workdir / f"{name}.body"
    body_file.write_bytes(body)
    argv = [*wrapper, sys.executable, "-m", "bench.bare", "--port", str(port)]
    argv += ["--body-file", str(body_file), "--content-type", content_type]
    return fleet.start(name, argv, port)


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    proxy_cache_path {dir}/cache levels=1:2 keys_zone=olc:64m max_size=1g inactive=1h
                     use_temp_path=off;
    # The API-key check: a map from the presented key to a client name.
    map $http_x_api_key $bench_client {{ default ""; "{key}" "bench"; }}
    map $http_cache_control $bypass {{ default 0; "~*no-cache" 1; }}
    upstream olconnect {{ server {upstream}; keepalive 64; }}
    server {{
        listen {host}:{port} backlog=4096;
        location = /healthz {{ return 200 "ok"; }}
        location {segments}/ {{
            if ($bench_client = "") {{ return 403; }}
            proxy_pass http://olconnect;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-API-Key "";
            proxy_set_header auth_token "{token}";
            proxy_cache olc;
            proxy_cache_key $uri;
            proxy_cache_valid 200 300s;
            proxy_cache_valid 404 5s;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_bypass $bypass;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


def start_nginx(fleet: Fleet, nginx: str, sim: Proc, token: str) -> Proc:
    """nginx, one process, caching in front of the simulator with a pre-obtained token."""
    port = free_port()
    conf = fleet.workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=fleet.workdir,
            key=API_KEY,
            upstream=f"{HOST}:{sim.port}",
            host=HOST,
            port=port,
            segments=SEGMENTS,
            token=token,
        )
    )
    argv = [nginx, "-p", str(fleet.workdir), "-c", str(conf), "-e", str(fleet.workdir / "e.log")]
    return fleet.start("nginx", argv, port)


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
