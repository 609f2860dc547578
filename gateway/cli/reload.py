"""SIGHUP: re-read the config file and apply its `clients:` list atomically."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.config.load import ConfigError, load_config
from gateway.state import AUTHENTICATOR, CONFIG, METRICS, RATE_LIMITER

log = structlog.get_logger(__name__)


def reload_clients(app: web.Application, path: str) -> bool:
    """Apply the clients of the file at `path`; an invalid file changes nothing.

    Settings outside `clients:` are read but not applied: they are logged as
    needing a restart. Returns whether the new client list was applied.
    """
    metrics = app[METRICS]
    try:
        new = load_config(path)
    except Exception as exc:  # it runs as a signal handler: one event, never a traceback
        problems = (
            exc.problems
            if isinstance(exc, ConfigError)
            else [f"config: cannot be loaded ({type(exc).__name__})"]
        )
        metrics.reloads.labels("invalid").inc()
        log.error("config_reload_rejected", config=path, problems=problems)
        return False
    current = app[CONFIG]
    restart_needed = [
        section
        for section in ("server", "upstream", "cache", "logging")
        if getattr(new, section) != getattr(current, section)
    ]
    if restart_needed:
        log.warning("config_reload_needs_restart", config=path, sections=restart_needed)
    app[AUTHENTICATOR].replace_clients(new.clients)
    app[RATE_LIMITER].forget_others({client.name for client in new.clients})
    metrics.reloads.labels("ok").inc()
    log.info("config_reloaded", config=path, clients=[client.name for client in new.clients])
    return True
