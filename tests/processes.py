"""Helpers for tests that run the CLI in child processes: free ports, logs, polling, cleanup.

Test modules import the fixtures they use from here (`upstream`, `sim_control`,
`start_gateway`): a module-scoped simulator child, and gateway children that
are always killed at the end of the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import yaml
from conftest import client_entries, merge

START_DEADLINE = 15.0  # a cold interpreter importing aiohttp and pydantic on a busy CI box
STOP_DEADLINE = 10.0
UPSTREAM_USER = "ol-admin"
UPSTREAM_PASSWORD = "sim-Pa55-not-in-logs"
# An OL Connect (simulator) token: secrets.token_urlsafe(24). A request id is 32 hex digits,
# so a 32-character run holding any non-hex character is taken for a token.
_TOKEN_SHAPED = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])")
_HEX = re.compile(r"[0-9a-f]{32}")

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (bound to port 0 to pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Child:
    """A CLI child process whose stdout and stderr go to files (no pipe can fill up).

    Args:
        args: arguments after ``python -m gateway.cli``.
        workdir: current directory of the child; its output files live there too.
        env: extra environment variables.
    """

    def __init__(self, args: list[str], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        name = f"{args[0]}-{time.monotonic_ns()}"
        self.stdout_path = workdir / f"{name}.out"
        self.stderr_path = workdir / f"{name}.err"
        child_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OLCG_", "OLCONNECT_"))
        }
        child_env.update(env or {})
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "gateway.cli", *args],
                stdout=out,
                stderr=err,
                cwd=workdir,
                env=child_env,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (other stdout lines are skipped)."""
        events = []
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def exit_code(self, deadline: float = STOP_DEADLINE) -> int:
        """Wait (polling, without blocking the loop) for the child to exit."""

        async def probe() -> int | None:
            return self.process.poll()

        return await poll(probe, deadline, f"{self.args[0]} to exit")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_DEADLINE)


async def poll(
    probe: Callable[[], Awaitable[T | None]], deadline: float, what: str, interval: float = 0.02
) -> T:
    """Await `probe` until it returns something other than None; fail after `deadline` s."""
    give_up = time.monotonic() + deadline
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        await asyncio.sleep(interval)


async def slow_upstream(sim_control: aiohttp.ClientSession, seconds: float) -> None:
    """Make the simulator answer document-set requests after `seconds`."""
    async with sim_control.put(
        "/_sim/fault", json={"route_latency": {"document_sets": seconds}}
    ) as response:
        assert response.status == 200


async def wait_upstream_call(sim_control: aiohttp.ClientSession) -> None:
    """Wait until the simulator has received a document-set request."""

    async def called() -> bool | None:
        async with sim_control.get("/_sim/calls") as response:
            return True if (await response.json())["document_sets"] >= 1 else None

    await poll(called, 5, "the upstream call")


async def wait_http(url: str, child: Child, deadline: float = START_DEADLINE) -> None:
    """Poll `url` until it answers 200 (each probe on a fresh connection); fail if `child` dies."""

    async def probe() -> bool | None:
        if child.process.poll() is not None:
            raise AssertionError(f"{child.args[0]} exited early: {child.stderr}")
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                return True if response.status == 200 else None
        except aiohttp.ClientError:
            return None

    await poll(probe, deadline, url)


def write_config(path: Path, *, port: int, upstream_port: int, **sections: Any) -> Path:
    """Write a gateway config for a child: JSON logs at debug, credentials from the env.

    `sections` are deep-merged into the defaults (``clients=[...]`` replaces the list).
    """
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "shutdown_timeout": 5},
        "upstream": {
            "url": f"http://127.0.0.1:{upstream_port}",
            "username": "${OLCONNECT_USERNAME}",
            "password": "${OLCONNECT_PASSWORD}",
            "timeout": 5,
        },
        "clients": client_entries(),
        "logging": {"level": "debug", "format": "json"},
    }
    config = merge(config, sections)
    replace_file(path, yaml.safe_dump(config, sort_keys=False))
    return path


def replace_file(path: Path, text: str) -> None:
    """Replace a file atomically, as an operator's deploy tool would."""
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


UPSTREAM_ENV = {"OLCONNECT_USERNAME": UPSTREAM_USER, "OLCONNECT_PASSWORD": UPSTREAM_PASSWORD}


def assert_no_secrets(text: str, secrets: Iterable[str]) -> None:
    """No known secret, and nothing shaped like an upstream token, appears in `text`."""
    for secret in secrets:
        assert secret not in text, "a secret appeared in the output"
    tokens = [m for m in _TOKEN_SHAPED.findall(text) if not _HEX.fullmatch(m)]
    assert not tokens, f"token-shaped strings in the output: {tokens}"


StartGateway = Callable[..., Awaitable["Gateway"]]


class Gateway:
    """A running `serve` child and where to reach it."""

    def __init__(self, child: Child, port: int, config: Path, upstream_port: int) -> None:
        self.child = child
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config = config
        self.upstream_port = upstream_port

    def rewrite_config(self, **sections: Any) -> None:
        """Replace the child's config file: the defaults merged with `sections`."""
        write_config(self.config, port=self.port, upstream_port=self.upstream_port, **sections)


def wait_listening(port: int, deadline: float = START_DEADLINE) -> None:
    """Block until something accepts connections on loopback `port` (module set-up only)."""
    give_up = time.monotonic() + deadline
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.02)


@pytest.fixture(name="upstream", scope="module")
def upstream_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An OL Connect simulator child with its /_sim controls; yields its base URL."""
    port = free_port()
    child = Child(
        [
            "simulator",
            "--port",
            str(port),
            "--username",
            UPSTREAM_USER,
            "--password",
            UPSTREAM_PASSWORD,
            "--expose-controls",
        ],
        tmp_path_factory.mktemp("simulator"),
    )
    try:
        wait_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.kill()


@pytest.fixture(name="sim_control")
async def sim_control_fixture(upstream: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A session on the simulator's controls; the simulator is reset before and after."""
    async with aiohttp.ClientSession(base_url=upstream) as session:
        async with session.post("/_sim/reset") as response:
            assert response.status == 200
        yield session
        async with session.post("/_sim/reset") as response:
            assert response.status == 200


@pytest.fixture(name="start_gateway")
async def start_gateway_fixture(
    upstream: str, sim_control: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[StartGateway]:
    """Start `serve --config` children (killed at the end): `await start_gateway(**sections)`.

    ``env`` (keyword) adds environment variables for the child.
    """
    children: list[Child] = []
    upstream_port = int(upstream.rsplit(":", 1)[1])

    async def start(*, env: dict[str, str] | None = None, **sections: Any) -> Gateway:
        port = free_port()
        config = write_config(
            tmp_path / f"gateway-{port}.yaml", port=port, upstream_port=upstream_port, **sections
        )
        child = Child(["serve", "--config", str(config)], tmp_path, {**UPSTREAM_ENV, **(env or {})})
        children.append(child)
        gateway = Gateway(child, port, config, upstream_port)
        await wait_http(gateway.url + "/healthz", child)
        return gateway

    try:
        yield start
    finally:
        for child in children:
            child.kill()
