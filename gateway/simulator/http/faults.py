"""Responses that misbehave on purpose, one per `Fault`."""

from __future__ import annotations

import asyncio
import contextlib
from http import HTTPStatus
from typing import assert_never

from aiohttp import hdrs, web

from gateway.errors import error_body
from gateway.simulator.model.state import Fault

#: How often a hanging handler looks whether its client has gone away.
HANG_POLL_SECONDS = 0.1

_JSON = "application/json"
_PARTIAL_BODY = b'{"identifiers": [101, 102, 103, 104, 105, 106, 107, 108, 109]}'
_DEEP_BODY = b"[" * 100_000 + b"]" * 100_000  # valid JSON past any parser's recursion limit
# What an unhandled exception looks like from Tomcat, and a proxy in front of a dead server.
_CRASH_PAGE = (
    "<!doctype html><html><head><title>HTTP Status 500 - Internal Server Error</title></head>"
    "<body><h1>HTTP Status 500 - Internal Server Error</h1></body></html>"
)
_PROXY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


async def fault_response(
    request: web.Request, fault: Fault, release: asyncio.Event
) -> web.StreamResponse:
    """Answer `request` the way `fault` prescribes.

    Args:
        request: the request to spoil.
        fault: which misbehaviour.
        release: set when the app shuts down; a hanging answer ends then.
    """
    match fault:
        case Fault.STATUS_500:
            return _html(HTTPStatus.INTERNAL_SERVER_ERROR, _CRASH_PAGE)
        case Fault.PROXY_502:
            return _html(HTTPStatus.BAD_GATEWAY, _PROXY_PAGE)
        case Fault.UNAUTHORIZED:
            return _json_error(HTTPStatus.UNAUTHORIZED, "authentication token has expired")
        case Fault.DEEP_JSON:
            return web.Response(body=_DEEP_BODY, content_type=_JSON)
        case Fault.TRUNCATED_JSON:
            return web.Response(body=_PARTIAL_BODY[:20], content_type=_JSON)
        case Fault.NON_JSON:
            return web.Response(
                text="<html><body><h1>Maintenance</h1></body></html>", content_type="text/html"
            )
        case Fault.WRONG_CONTENT_TYPE:
            return web.Response(body=_PARTIAL_BODY, content_type="text/html")
        case Fault.REDIRECT:
            return web.Response(
                status=HTTPStatus.FOUND,
                headers={hdrs.LOCATION: "/rest/serverengine/moved"},
            )
        case Fault.DROP | Fault.DROP_AFTER:
            return drop(request, web.Response())
        case Fault.RESET_MID_BODY:
            return await _reset_mid_body(request)
        case Fault.HANG_AFTER_HEADERS:
            return await _hang_after_headers(request, release)
        case _:
            assert_never(fault)


def _html(status: int, page: str) -> web.Response:
    return web.Response(status=status, text=page, content_type="text/html")


def _json_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=error_body(status, message), content_type=_JSON)


def drop(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Close the connection instead of sending ``response``."""
    # Closing the transport makes aiohttp's own attempt to finish `response`
    # fail with a ConnectionError, which it treats as a quiet client disconnect.
    response.force_close()
    if request.transport is not None:
        request.transport.close()
    return response


async def _reset_mid_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: _JSON})
    response.content_length = len(_PARTIAL_BODY)
    await response.prepare(request)
    await response.write(_PARTIAL_BODY[: len(_PARTIAL_BODY) // 2])
    return drop(request, response)


async def _hang_after_headers(request: web.Request, release: asyncio.Event) -> web.StreamResponse:
    response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: _JSON})
    response.content_length = len(_PARTIAL_BODY)
    await response.prepare(request)
    # aiohttp does not cancel a handler whose client disconnects, so look for
    # that now and then; the app's shutdown sets `release` for the rest.
    while not release.is_set() and _connected(request):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HANG_POLL_SECONDS):
                await release.wait()
    return drop(request, response)


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()
