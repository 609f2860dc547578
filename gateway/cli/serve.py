"""`serve`: the gateway from a config file, until SIGTERM/SIGINT; `clients:` reloaded on SIGHUP.

On a stop the listener closes, in-flight requests get up to
`server.shutdown_timeout` to finish, then the upstream session closes. This
module never imports the simulator: production `serve` does not load it.
"""

from __future__ import annotations

import asyncio
import gc
import signal

import structlog

from gateway.app import create_app
from gateway.cli.listen import listen_error
from gateway.cli.reload import reload_clients
from gateway.cli.startup import load_or_exit, start, until_signalled, use_uvloop
from gateway.config.filecheck import warn_if_exposed
from gateway.config.model import Config
from gateway.edge.runner_options import (
    descriptors_needed,
    raise_descriptor_limit,
    runner_options,
)
from gateway.telemetry.aggregate import WorkerSet
from gateway.telemetry.log import configure_logging

log = structlog.get_logger("gateway.server")


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
    config_path: str,
    *,
    reuse_port: bool = False,
    session_secret: bytes | None = None,
    owners_path: str | None = None,
    workers: WorkerSet | None = None,
) -> int:
    """Run the gateway from the config file at `config_path` until SIGTERM/SIGINT.

    Args:
        config_path: the config file.
        reuse_port: bind with SO_REUSEPORT, so worker processes share the port.
        session_secret: signs session tokens (workers share one); random if None.
        owners_path: the SQLite file where workers share owners (memory back-end).
        workers: this process's place under `serve --workers N`; None alone.
    """
    # Until the loop's handler is installed, a SIGHUP (a reload) must not kill the
    # process; the config read just below is the newest anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = load_or_exit(config_path)
    configure_logging(config.logging.level, config.logging.format, buffered=True)
    warn_if_exposed(config_path)
    use_uvloop()
    asyncio.run(
        _serve(
            config,
            config_path,
            reuse_port=reuse_port,
            session_secret=session_secret,
            owners_path=owners_path,
            workers=workers,
        )
    )
    return 0


async def _serve(
    config: Config,
    config_path: str,
    *,
    reuse_port: bool = False,
    session_secret: bytes | None = None,
    owners_path: str | None = None,
    workers: WorkerSet | None = None,
) -> None:
    app = create_app(
        config, session_secret=session_secret, owners_path=owners_path, workers=workers
    )
    server = config.server
    needed = descriptors_needed(config)
    if (allowed := raise_descriptor_limit(needed)) < needed:
        # Past the limit accept() fails over and over and nobody is answered: say so now.
        log.warning("descriptor_limit_low", limit=allowed, needed=needed)
    try:
        runner = await start(
            app,
            server.host,
            server.port,
            server.shutdown_timeout,
            reuse_port=reuse_port,
            max_connections=server.max_connections,
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
        await until_signalled(lambda: reload_clients(app, config_path))
        log.info("gateway_stopping", shutdown_timeout=config.server.shutdown_timeout)
    finally:
        await runner.cleanup()
    log.info("gateway_stopped")
