"""Connection-level limits of the HTTP server: how long and how large a request may be.

aiohttp applies these before any middleware runs, so they are runner options,
not app state. A request line or header over its limit, or too many headers,
is answered 400 by aiohttp's parser and the connection is closed. Request
bodies are never decompressed (issue 23 F2): aiohttp would inflate a
`Content-Encoding: gzip` body in its parser, before any middleware (so before
authentication), and forward the inflated bytes under the compressed length.
"""

from __future__ import annotations

from typing import Any

from gateway.config.model import ServerConfig

MAX_LINE_SIZE = 8190  # request line (method, path, query), as aiohttp's default
MAX_FIELD_SIZE = 8190  # one header line
MAX_HEADERS = 128  # header lines per request


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
