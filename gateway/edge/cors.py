"""Browser clients (SPEC §8.6): CORS for the origins in `server.cors_origins`, nothing for others.

A preflight from a listed origin is answered by the gateway itself, without
a credential; every other answer to a listed origin carries the origin back
and exposes the headers an OL Connect client reads (operationId, Link, …).
With no origins configured neither piece is installed: no cost, no headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

ALLOWED_METHODS: Final = "GET, HEAD, POST, PUT, DELETE, PATCH"
# The gateway's credential headers, what a browser sends with a body, a reload
# (`Cache-Control: no-cache`), the vendor client's `trace_id` (SPEC §10.7), and how it
# waits for an operation (`Prefer: wait`) or resumes an event stream (SPEC §11.3).
ALLOWED_HEADERS: Final = ", ".join(
    (
        *("auth_token", "X-API-Key", "Authorization", "Content-Type", "Cache-Control"),
        *("trace_id", "Prefer", "Last-Event-ID"),
    )
)
EXPOSED_HEADERS: Final = ", ".join(
    (
        "operationId",
        "Link",
        "Location",
        "Content-Disposition",
        "OL-Original-Filename",  # File Store downloads (the vendor client reads it)
        "Token-Expires-In",  # the gateway's own login
        "X-Cache",
        "Cache-Status",
        "Age",
        "X-Request-ID",
        "Retry-After",
        "X-Result-Type",  # all-in-one results with returnIdInHeader
        "X-Data-Set-ID",
        "X-Content-Set-ID",
        "X-Job-Set-ID",
        "Preference-Applied",
    )
)
MAX_AGE: Final = "600"  # seconds a browser may reuse a preflight


class Cors:
    """The CORS policy for a set of allowed origins.

    Args:
        origins: exact origins, e.g. ``https://app.example.com``.
    """

    def __init__(self, origins: Iterable[str]) -> None:
        self._origins = frozenset(origins)

    def middleware(self) -> Middleware:
        """Answer a listed origin's preflight (OPTIONS + Access-Control-Request-Method)."""

        @web.middleware
        async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
            origin = request.headers.get(hdrs.ORIGIN)
            if (
                request.method == hdrs.METH_OPTIONS
                and origin in self._origins
                and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
            ):
                return web.Response(
                    status=HTTPStatus.NO_CONTENT,
                    headers={
                        hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOWED_METHODS,
                        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                        hdrs.ACCESS_CONTROL_MAX_AGE: MAX_AGE,
                    },
                )
            return await handler(request)

        return preflight

    async def stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        """``on_response_prepare``: the CORS headers on every answer to a listed origin."""
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or origin not in self._origins:
            return
        headers = response.headers
        headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        headers.add(hdrs.VARY, hdrs.ORIGIN)
        if request.method != hdrs.METH_OPTIONS:
            headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS
