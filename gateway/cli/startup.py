"""Start-up shared by every command that runs a server: the config, the event loop, signals.

`serve`, the workers' supervisor and the demo all use it; it imports none of
them, so the command line has no import circle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.config.model import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    load_config,
)
from gateway.edge.rejections import GatewayRunner

EXIT_USAGE = 2
_NO_CONFIG_HINT = f"name the file with --config PATH or the {CONFIG_ENV_VAR} environment variable"


def config_path(explicit: str | None) -> str:
    """--config, else $OLCG_CONFIG, else the default path."""
    return explicit or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH


def load_or_exit(path: str) -> Config:
    """Load a config or exit 2 with one line per problem."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            if problem.startswith("config: cannot read"):
                problem = f"{problem} ({_NO_CONFIG_HINT})"
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def use_uvloop() -> None:
    """uvloop (extra `speed`) when installed: a faster event loop, same behaviour."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def until_signalled(on_hangup: Callable[[], object] | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if on_hangup is not None:
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        # SIGHUP's default action kills the process: a reload sent while in-flight
        # requests drain must not cut them off. A second SIGTERM still stops at once.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


async def start(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout: float,
    *,
    reuse_port: bool = False,
    gateway: bool = True,
    max_connections: int | None = None,
    **options: Any,
) -> web.AppRunner:
    """Serve `app` on host:port; `options` are `web.RequestHandler`'s (`runner_options`).

    The gateway's runner answers requests its HTTP parser rejects itself (JSON, no
    detail) and connections over ``max_connections`` (`server.max_connections`) with 503.
    """
    runner = (
        GatewayRunner(
            app, shutdown_timeout=shutdown_timeout, max_connections=max_connections, **options
        )
        if gateway
        else web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=shutdown_timeout,
            **options,
        )
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
