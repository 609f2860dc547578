"""Connection-level limits of the HTTP server: how long and how large a request may be, how many.

aiohttp applies these before any middleware runs, so they are runner options,
not app state. A request line or header over its limit, or too many headers,
is answered 400 by aiohttp's parser and the connection is closed. Request
bodies are never decompressed (issue 23 F2): aiohttp would inflate a
`Content-Encoding: gzip` body in its parser, before any middleware (so before
authentication), and forward the inflated bytes under the compressed length.
Connections over `server.max_connections` are answered 503 at once; the
process's file-descriptor limit must leave room for them and for the upstream
pool.
"""

from __future__ import annotations

import resource
from typing import Any

from gateway.config.model import Config, ServerConfig

MAX_LINE_SIZE = 8190  # request line (method, path, query), as aiohttp's default
MAX_FIELD_SIZE = 8190  # one header line
MAX_HEADERS = 128  # header lines per request
# Descriptors besides client and upstream connections: the listening sockets, log
# files, Redis, the event loop's own, a refused connection's short linger.
SPARE_DESCRIPTORS = 128


def runner_options(server: ServerConfig) -> dict[str, Any]:
    """Keyword arguments for `web.AppRunner` (or a test server) enforcing the limits.

    Written out rather than left to aiohttp's defaults, so an upgrade cannot
    loosen them unnoticed. aiohttp's keep-alive timer starts when a connection
    opens and after each answer, and closes a connection still waiting for a
    complete request head when it fires: that is the slow-header defence.
    """
    return {
        "keepalive_timeout": server.client_timeout,
        "max_line_size": MAX_LINE_SIZE,
        "max_field_size": MAX_FIELD_SIZE,
        "max_headers": MAX_HEADERS,
        # After an early answer (413), discard the rest of an unread body for at most
        # this long before closing: bounded work for a client that keeps sending.
        "lingering_time": min(server.client_timeout, 10.0),
        # SECURITY: a gzip body stays gzip: forwarded byte for byte, or refused (415) where
        # the gateway must read it. Never inflated, least of all before authentication.
        "auto_decompress": False,
    }


def descriptors_needed(config: Config) -> int:
    """File descriptors one process needs at its bounds: clients, upstream, and spare."""
    upstream = config.upstream.max_connections + 2  # + the logins' own connections
    return config.server.max_connections + upstream + SPARE_DESCRIPTORS


def raise_descriptor_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``needed`` (never past the hard limit).

    Returns the soft limit now in force; below ``needed``, the operator should raise
    the hard limit (systemd's ``LimitNOFILE``) or lower `server.max_connections`.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target <= soft:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # a sandbox may refuse even this
        return soft
    return target
