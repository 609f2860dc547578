"""Running the gateway: `serve` (from a config file) and `demo` (in front of the simulator).

Both stop gracefully on SIGTERM/SIGINT: the listener closes, in-flight
requests get up to `server.shutdown_timeout` to finish, then the upstream
session closes. `serve` reloads `clients:` on SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import signal
import socket
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from gateway.access.reload import reload_clients
from gateway.app import create_app
from gateway.cli import load_or_exit
from gateway.config.filecheck import warn_if_exposed
from gateway.config.model import Config, key_digest
from gateway.demo import banner
from gateway.edge.rejections import GatewayRunner
from gateway.edge.runner_options import runner_options
from gateway.listen import listen_error
from gateway.simulator import Simulator, create_simulator_app
from gateway.telemetry.log import configure_logging, register_secret

log = structlog.get_logger("gateway.server")

DEMO_USER = "ol-admin"


def _use_uvloop() -> None:
    """uvloop (extra `speed`) when installed: a faster event loop, same behaviour."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _until_signalled(on_hangup: Callable[[], object] | None = None) -> None:
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


async def _start(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout: float,
    *,
    reuse_port: bool = False,
    gateway: bool = True,
    **options: Any,
) -> web.AppRunner:
    # The gateway's runner answers requests its HTTP parser rejects itself (JSON, no detail).
    runner = (
        GatewayRunner(app, shutdown_timeout=shutdown_timeout, **options)
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


def _freeze_startup_objects() -> int:
    """Exempt everything built at start-up from garbage collection; return the count.

    Modules, config and app live as long as the process, yet every full
    collection walked them: 80-90 ms pauses in the middle of a miss storm, which
    moved its p99 by as much. Only objects made later are collected now.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def serve(
    config_path: str, *, reuse_port: bool = False, session_secret: bytes | None = None
) -> int:
    """Run the gateway from the config file at `config_path` until SIGTERM/SIGINT.

    Args:
        config_path: the config file.
        reuse_port: bind with SO_REUSEPORT, so worker processes share the port.
        session_secret: signs session tokens (workers share one); random if None.
    """
    # Until the loop's handler is installed, a SIGHUP (a reload) must not kill the
    # process; the config read just below is the newest anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = load_or_exit(config_path)
    configure_logging(config.logging.level, config.logging.format, buffered=True)
    warn_if_exposed(config_path)
    _use_uvloop()
    asyncio.run(_serve(config, config_path, reuse_port=reuse_port, session_secret=session_secret))
    return 0


async def _serve(
    config: Config,
    config_path: str,
    *,
    reuse_port: bool = False,
    session_secret: bytes | None = None,
) -> None:
    app = create_app(config, session_secret=session_secret)
    server = config.server
    try:
        runner = await _start(
            app,
            server.host,
            server.port,
            server.shutdown_timeout,
            reuse_port=reuse_port,
            **runner_options(server),
        )
    except OSError as exc:
        raise listen_error(exc, server.host, server.port) from None
    _freeze_startup_objects()
    log.info(
        "gateway_listening",
        address=f"http://{config.server.host}:{config.server.port}",
        config=config_path,
        upstream=config.upstream.url,
        cache_backend=config.cache.backend,
    )
    try:
        await _until_signalled(lambda: reload_clients(app, config_path))
        log.info("gateway_stopping", shutdown_timeout=config.server.shutdown_timeout)
    finally:
        await runner.cleanup()
    log.info("gateway_stopped")


def demo(port: int) -> int:
    """Run the simulator on a free loopback port and the gateway on `port` in front of it."""
    configure_logging("info", "console")
    _use_uvloop()
    asyncio.run(_demo(port))
    return 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _demo(port: int) -> None:
    password = secrets.token_urlsafe(16)
    sim_port = _free_port()
    sim_runner = await _start(
        create_simulator_app(Simulator(username=DEMO_USER, password=password)),
        "127.0.0.1",
        sim_port,
        shutdown_timeout=1,
        gateway=False,
    )
    key = "olcg_demo_" + secrets.token_urlsafe(24)
    register_secret(key)  # printed once in the banner, never in a log line
    config = Config.model_validate(
        {
            "server": {"port": port},
            "upstream": {
                "url": f"http://127.0.0.1:{sim_port}",
                "username": DEMO_USER,
                "password": password,
            },
            "clients": [
                {
                    "name": "demo",
                    "key_sha256": key_digest(key),
                    "scopes": ["read", "write", "run", "files", "admin"],
                }
            ],
            "logging": {"format": "console"},
        }
    )
    try:
        gateway_runner = await _start(
            create_app(config), "127.0.0.1", port, 5, **runner_options(config.server)
        )
    except BaseException:
        await sim_runner.cleanup()
        raise
    print(banner(f"http://127.0.0.1:{port}", key, sim_port), flush=True)
    try:
        await _until_signalled()
    finally:
        await gateway_runner.cleanup()
        await sim_runner.cleanup()
    print("demo stopped", flush=True)
