"""Shared fixtures: a fake clock and the OL Connect simulator on a loopback port."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.simulator import Simulator, create_simulator_app

MakeSimulator = Callable[..., Simulator]
MakeSimulatorServer = Callable[..., Awaitable[TestServer]]


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
    """Serve a simulator on loopback: `await make_simulator_server(sim, expose_controls=False)`."""

    async def make(sim: Simulator, *, expose_controls: bool = False) -> TestServer:
        return await aiohttp_server(create_simulator_app(sim, expose_controls=expose_controls))

    return make


@pytest.fixture
async def simulator_server(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer
) -> TestServer:
    """`simulator` served on loopback; `.make_url("")` is the upstream base URL."""
    return await make_simulator_server(simulator)
