"""Shared fixtures: fake clocks, the OL Connect simulator, configs and the gateway, logs."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.app import create_app
from gateway.config.model import Config, key_digest
from gateway.simulator import SERVER_OPTIONS, Simulator, create_simulator_app
from gateway.telemetry.log import configure_logging

MakeSimulator = Callable[..., Simulator]
MakeSimulatorServer = Callable[..., Awaitable[TestServer]]
MakeConfig = Callable[..., Config]
MakeGateway = Callable[..., Awaitable[TestClient[Any, Any]]]
MakeGatewayFor = Callable[..., Awaitable[TestClient[Any, Any]]]

# Test clients and their plaintext keys; the config holds only the digests.
KEYS = {
    "reader": "olcg_test_reader_0123456789abcdef",
    "writer": "olcg_test_writer_0123456789abcdef",
    "admin": "olcg_test_admin_0123456789abcdefg",
    "limited": "olcg_test_limited_0123456789abcde",
}
SCOPES = {
    "reader": ["read"],
    "writer": ["read", "write"],
    "admin": ["read", "write", "run", "files", "admin"],
    "limited": ["read"],
}
WALL_START = 1_800_000_000.0  # 2027-01-15, before any test client's expires_at


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def basic_auth_header(user: str, password: str) -> str:
    """The value of an `Authorization: Basic` header for the pair."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
def make_simulator(clock: FakeClock) -> MakeSimulator:
    """Build a `Simulator` on the fake clock with 100 segments unless told otherwise."""

    def make(**kwargs: Any) -> Simulator:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("segments", 100)
        return Simulator(**kwargs)

    return make


@pytest.fixture
def simulator(make_simulator: MakeSimulator) -> Simulator:
    """The default simulator (user `ol-admin`, password `secret`)."""
    return make_simulator()


@pytest.fixture
def make_simulator_server(aiohttp_server: AiohttpServer) -> MakeSimulatorServer:
    """Serve a simulator on loopback: `await make_simulator_server(sim, expose_controls=False)`.

    ``prefix="/olc"`` serves it under that path, as behind a reverse proxy.
    """

    async def make(
        sim: Simulator, *, expose_controls: bool = False, prefix: str = ""
    ) -> TestServer:
        app = create_simulator_app(sim, expose_controls=expose_controls, prefix=prefix)
        return await aiohttp_server(app, **SERVER_OPTIONS)

    return make


@pytest.fixture
async def simulator_server(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer
) -> TestServer:
    """`simulator` served on loopback; `.make_url("")` is the upstream base URL."""
    return await make_simulator_server(simulator)


async def until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    """Yield to the loop until `condition()` holds; fail after `deadline` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while not condition():
        assert loop.time() < give_up, "condition not met in time"
        await asyncio.sleep(0.005)


def key_header(client: str = "reader") -> dict[str, str]:
    """The X-API-Key header of one of the test clients in `KEYS`."""
    return {"X-API-Key": KEYS[client]}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base` (None values delete keys)."""
    merged = dict(base)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def client_entries() -> list[dict[str, Any]]:
    """The `clients:` list of the test config."""
    entries: list[dict[str, Any]] = []
    for name, key in KEYS.items():
        entry: dict[str, Any] = {
            "name": name,
            "key_sha256": key_digest(key),
            "scopes": SCOPES[name],
        }
        if name == "limited":
            entry["rate_limit"] = 5
        entries.append(entry)
    return entries


@pytest.fixture
def wall_clock() -> FakeClock:
    """A fake wall clock (epoch seconds) for cache entries and key expiry."""
    return FakeClock(WALL_START)


@pytest.fixture
def make_config(simulator_server: TestServer) -> MakeConfig:
    """Build a validated `Config` pointing at `simulator_server`: `make_config(cache={...})`."""
    base: dict[str, Any] = {
        "upstream": {
            "url": str(simulator_server.make_url("")).rstrip("/"),
            "username": "ol-admin",
            "password": "secret",
            "timeout": 5,
        },
        "clients": client_entries(),
    }

    def make(**sections: Any) -> Config:
        return Config.model_validate(merge(base, sections))

    return make


@pytest.fixture
def make_gateway(
    aiohttp_client: AiohttpClient, make_config: MakeConfig, clock: FakeClock, wall_clock: FakeClock
) -> MakeGateway:
    """Serve a gateway on loopback: `await make_gateway(config=None, **config_sections)`."""

    async def make(config: Config | None = None, **sections: Any) -> TestClient[Any, Any]:
        app = create_app(config or make_config(**sections), clock=clock, wall_clock=wall_clock)
        # As `serve` runs it (gateway.edge.runner_options): request bodies are never inflated.
        return await aiohttp_client(app, server_kwargs={"auto_decompress": False})

    return make


@pytest.fixture
def make_gateway_for(
    make_simulator_server: MakeSimulatorServer, make_config: MakeConfig, make_gateway: MakeGateway
) -> MakeGatewayFor:
    """Serve `sim` and a gateway in front of it: `await make_gateway_for(sim, upstream={...})`."""

    async def make(sim: Simulator, **sections: Any) -> TestClient[Any, Any]:
        server = await make_simulator_server(sim)
        upstream = {"url": str(server.make_url("")).rstrip("/"), **sections.pop("upstream", {})}
        return await make_gateway(make_config(upstream=upstream, **sections))

    return make


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> TestClient[Any, Any]:
    """The gateway with the default test config, in front of `simulator`."""
    return await make_gateway()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every log line (JSON, debug level) the test produces, as rendered text."""
    buffer = io.StringIO()
    configure_logging("debug", "json", buffer, cache_loggers=False)
    yield buffer
    structlog.reset_defaults()


# Real redis-server fixtures (redis_server, make_redis_server, redis_prefix).
pytest_plugins = ["redis_fixtures"]
