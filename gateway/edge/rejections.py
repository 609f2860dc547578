"""Requests aiohttp answers itself, outside every middleware: parser rejections and bugs.

A request aiohttp's HTTP parser refuses (a bare LF, obs-fold, a control
character, an over-long line, a bad method) never reaches the app. aiohttp
answers it from `RequestHandler.handle_error`: by default a text/plain body
quoting the offending bytes, ``Server: Python/… aiohttp/…``, and an
``aiohttp.server`` record whose traceback repeats those bytes — a client's key
among them. Here that answer is the OL Connect JSON Error without detail under
our ``Server`` name, and the log gets one ``http_request_rejected`` event with
the exception's class name only.

aiohttp offers no option for the protocol class, so `GatewayRunner` builds the
app's server as `AppRunner` does and hands its connections to
`GatewayRequestHandler` (`web.RequestHandler` and `web.Server` are public; the
runner's `_make_server` hook is the one private name used). The same server
counts its connections and hands those over `server.max_connections` to a
`RefusedConnection` (`gateway.edge.connection_limit`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import hdrs, web

from gateway.edge.connection_limit import RefusedConnection, refusal
from gateway.edge.middlewares import REQUEST_ID, SERVER_NAME
from gateway.errors import error_body
from gateway.state import UPSTREAM, WARNINGS
from gateway.telemetry.stdlog import log_rejection, parser_error
from gateway.telemetry.throttle import RepeatedWarnings
from gateway.upstream.events import CONNECTIONS

log = structlog.get_logger("gateway.server")

_MESSAGES: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "malformed request",
    HTTPStatus.GATEWAY_TIMEOUT: "request timed out",
}


class GatewayRequestHandler(web.RequestHandler):
    """aiohttp's connection protocol, answering its own errors the gateway's way."""

    __slots__ = ("warnings",)

    warnings: RepeatedWarnings

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A JSON Error (400 for parser rejections) on a connection that then closes."""
        rejected = parser_error(exc)
        if rejected is not None:
            status = HTTPStatus.BAD_REQUEST
            log_rejection(rejected, request.remote)
        elif status == HTTPStatus.GATEWAY_TIMEOUT:
            # One per request while clients are slow: at most one a minute.
            self.warnings.warning("request_timed_out", "-", path=request.path)
        elif isinstance(exc, ConnectionError):
            # The client went away mid-request: nobody to answer, nothing to fix.
            log.debug("client_disconnected", path=request.path)
        else:
            # A bug outside the error middleware: ours, so its traceback is worth having.
            log.error("unhandled_error", path=request.path, exc_info=exc)
        if request.writer.output_size > 0:
            # aiohttp's own rule: an answer already under way cannot be replaced.
            raise ConnectionError("response already started")
        response = web.Response(
            status=status,
            body=error_body(status, _MESSAGES.get(status, "internal error")),
            content_type="application/json",
        )
        # SECURITY: our product name, not the Python and aiohttp versions.
        response.headers[hdrs.SERVER] = SERVER_NAME
        response.headers[REQUEST_ID] = secrets.token_hex(16)
        response.force_close()
        return response


class GatewayServer(web.Server):
    """A `web.Server` whose connections are `GatewayRequestHandler`s, at most `max_connections`.

    Args:
        handler: the app's request handler.
        request_factory: the app's request factory.
        max_connections: `server.max_connections`; None for no bound.
        on_refused: called for each connection refused over the bound.
        protocol: keyword arguments of `web.RequestHandler` (limits, timeouts, logging).
    """

    def __init__(
        self,
        handler: Any,
        *,
        request_factory: Any,
        warnings: RepeatedWarnings,
        max_connections: int | None = None,
        on_refused: Callable[[], None] = lambda: None,
        **protocol: Any,
    ) -> None:
        super().__init__(handler, request_factory=request_factory, **protocol)
        self._protocol = protocol
        self._max_connections = max_connections
        self._on_refused = on_refused
        self._warnings = warnings
        # Counted from the protocol factory, not from connection_made: one wake-up of
        # the listening socket accepts a burst before any of them is made.
        self.open_connections = 0

    # A refused connection is served by a plain asyncio protocol, not a RequestHandler.
    def __call__(self) -> web.RequestHandler | RefusedConnection:  # type: ignore[override]
        if self._max_connections is not None and self.open_connections >= self._max_connections:
            self._on_refused()
            return RefusedConnection(refusal(SERVER_NAME))
        self.open_connections += 1
        connection = GatewayRequestHandler(self, loop=asyncio.get_running_loop(), **self._protocol)
        connection.warnings = self._warnings
        return connection

    def connection_lost(
        self, handler: web.RequestHandler, exc: BaseException | None = None
    ) -> None:
        super().connection_lost(handler, exc)
        self.open_connections -= 1


class GatewayRunner(web.AppRunner):
    """An `AppRunner` whose server answers parser rejections with a JSON 400.

    Args:
        app: the gateway application.
        shutdown_timeout: seconds in-flight requests get on cleanup.
        max_connections: `server.max_connections`; None for no bound.
        protocol: keyword arguments of `web.RequestHandler` (see `gateway.edge.runner_options`).
    """

    def __init__(
        self,
        app: web.Application,
        *,
        shutdown_timeout: float,
        max_connections: int | None = None,
        **protocol: Any,
    ) -> None:
        protocol["access_log"] = None  # the access middleware logs every request once
        protocol["auto_decompress"] = False  # issue 23 F2: never inflate a request body
        super().__init__(app, handle_signals=False, shutdown_timeout=shutdown_timeout, **protocol)
        self._protocol = protocol
        self._max_connections = max_connections

    async def _make_server(self) -> web.Server:
        # AppRunner's own server starts the app and knows its handler and request
        # factory; ours takes those over and builds the connections.
        app_server = await super()._make_server()
        return GatewayServer(
            app_server.request_handler,
            request_factory=app_server.request_factory,
            warnings=self.app.get(WARNINGS) or RepeatedWarnings(),
            max_connections=self._max_connections,
            on_refused=self._refused,
            **self._protocol,
        )

    def _refused(self) -> None:
        upstream = self.app.get(UPSTREAM)  # set once the app has started, before any accept
        if upstream is not None:
            upstream.events.budget_exceeded(CONNECTIONS, limit=self._max_connections)
