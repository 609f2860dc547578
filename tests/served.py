"""The gateway served in-process as `serve` serves it: GatewayRunner with the runner options.

aiohttp's test server cancels a handler when its client hangs up
(``handler_cancellation=True``); `serve` does not, so a handler goes on after
a hang-up and meets the broken body itself. Tests of what a client's hang-up
does to the upstream's verdict need the production runner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from conftest import FakeClock
from processes import free_port

from gateway.app import create_app
from gateway.cli.startup import start
from gateway.config.model import Config
from gateway.edge.runner_options import runner_options

Serve = Callable[[Config], Awaitable["Served"]]


class Served:
    """A gateway listening on loopback: its runner, app and base URL."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.app = runner.app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture(name="serve")
async def serve_fixture(clock: FakeClock, wall_clock: FakeClock) -> AsyncIterator[Serve]:
    """`await serve(config)`: the gateway for `config` behind the production runner."""
    runners: list[web.AppRunner] = []

    async def make(config: Config, **options: Any) -> Served:
        app = create_app(config, clock=clock, wall_clock=wall_clock)
        port = free_port()
        runner = await start(
            app,
            "127.0.0.1",
            port,
            1.0,
            max_connections=config.server.max_connections,
            **{**runner_options(config.server), **options},
        )
        runners.append(runner)
        return Served(runner, port)

    yield make
    for runner in reversed(runners):
        await runner.cleanup()
