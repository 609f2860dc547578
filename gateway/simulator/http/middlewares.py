"""The simulator's request pipeline: JSON Errors, counting, latency, faults, auth, gzip."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.simulator.http.answers import base_url, error_response, true_answer
from gateway.simulator.http.faults import drop, fault_response
from gateway.simulator.model.errors import SimulatorError
from gateway.simulator.model.state import (
    AuthErrors,
    Compress,
    Fault,
    SeenRequest,
    Simulator,
    TokenState,
)

AUTH_TOKEN_HEADER = "auth_token"  # noqa: S105 - a header name, not a secret
RELEASE_KEY = web.AppKey("simulator_release", asyncio.Event)
#: The name in `Simulator.calls` of the paths in `Simulator.newer_routes`.
NEWER_ROUTE = "newer_route"
#: The route name `simulate` served a request as (absent on the controls and unknown paths).
ROUTE_NAME_KEY = web.RequestKey("simulator_route_name", str)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn `SimulatorError` and aiohttp's own 4xx (no route, bad method) into JSON Errors."""
    try:
        return await handler(request)
    except SimulatorError as exc:
        return error_response(exc.status, exc.message, exc.parameter, exc.headers)
    except web.HTTPException as exc:
        if exc.status < HTTPStatus.BAD_REQUEST:
            raise
        headers: dict[str, str] = {}
        if hdrs.ALLOW in exc.headers:
            headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
        return error_response(exc.status, exc.reason, request.path, headers)


def simulate(sim: Simulator, names: dict[web.AbstractRoute, str]) -> Middleware:
    """Count, record, delay (and gate), spoil (fault, redirect), authenticate, then gzip.

    Args:
        sim: the state; `calls` counts each request on arrival, before anything can fail it.
        names: the `ROUTES` name of each simulated route; other routes pass untouched,
            but for `sim.newer_routes`, served as `NEWER_ROUTE`.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = names.get(request.match_info.route)
        if name is None:
            if request.path not in sim.newer_routes:
                return await handler(request)
            name, handler = NEWER_ROUTE, _newer_route
        request[ROUTE_NAME_KEY] = name
        sim.calls[name] += 1
        raw_path = request.raw_path
        sim.last_request[name] = SeenRequest(
            request.method,
            raw_path,
            raw_path.partition("?")[2],
            CIMultiDictProxy(CIMultiDict(request.headers)),
        )
        delay = sim.delay(name)
        if delay > 0:
            await asyncio.sleep(delay)
        gate = sim.route_gates.get(name)
        if gate is not None:
            await gate.wait()
        if name != "login":
            if sim.fault is not None and sim.fault is not Fault.DROP_AFTER:
                return await fault_response(request, sim.fault, request.app[RELEASE_KEY])
            if sim.redirect_to is not None:
                return _redirect(request, sim.redirect_to)
            authenticate(request, sim)
        response = await handler(request)
        if sim.fault is Fault.DROP_AFTER and name != "login":
            return drop(request, response)
        hold = sim.route_hold.get(name, 0.0)
        if hold > 0:
            await asyncio.sleep(hold)  # the answer is computed: it is now "in flight"
        if isinstance(response, web.Response) and not response.prepared:
            compress(request, response, sim)
        return response

    return middleware


async def _newer_route(request: web.Request) -> web.StreamResponse:
    """A route a newer OL Connect adds: whatever it is asked, it answers 200 `true`."""
    return true_answer()


def _redirect(request: web.Request, target: str) -> web.Response:
    location = target if "://" in target else base_url(request) + target
    return web.Response(status=HTTPStatus.FOUND, headers={hdrs.LOCATION: location})


def answer_headers(sim: Simulator) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` signal adding `sim.answer_headers` to every simulated answer.

    Errors and faults included, the login's answer excepted: its `Token-Expires-In`
    is the token's own.
    """

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        if request.get(ROUTE_NAME_KEY) not in (None, "login"):
            response.headers.update(sim.answer_headers)

    return add


def compress(request: web.Request, response: web.StreamResponse, sim: Simulator) -> None:
    """Gzip `response` (not yet prepared) as `sim.compress` says."""
    if sim.compress is Compress.OFF or request.method == hdrs.METH_HEAD:
        return
    if response.status in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
        return
    if isinstance(response, web.Response) and not response.body:
        return
    if sim.compress is Compress.HONOUR and not accepts_gzip(request):
        return
    response.enable_compression(web.ContentCoding.gzip)


def accepts_gzip(request: web.Request) -> bool:
    """Whether Accept-Encoding allows gzip (`gzip`, `x-gzip` or `*` with q > 0)."""
    for item in request.headers.get(hdrs.ACCEPT_ENCODING, "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        key, _, value = params.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if quality > 0:
            return True
    return False


class GarbledCredentials(ValueError):
    """An `Authorization: Basic` header that is not base64 of `user:password`."""


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """The Basic credentials of the request, None without any.

    Raises:
        GarbledCredentials: the header is Basic but not decodable.
    """
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise GarbledCredentials from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise GarbledCredentials
    return username, password


def authentication_required() -> SimulatorError:
    """401 with the Basic challenge: the request carried no credential at all."""
    return SimulatorError(
        HTTPStatus.UNAUTHORIZED,
        "server authentication is required",
        headers={hdrs.WWW_AUTHENTICATE: "BASIC"},
    )


def refused(sim: Simulator, message: str, *, expired: bool = False) -> SimulatorError:
    """A credential OL Connect does not accept: since 2023.2 a 401 with a JSON Error and
    the Basic challenge, whatever the reason; up to 2022 (`AuthErrors.LEGACY`) 401 for an
    expired token and 403 for invalid credentials or an unknown token."""
    if sim.auth_errors is AuthErrors.LEGACY:
        return SimulatorError(HTTPStatus.UNAUTHORIZED if expired else HTTPStatus.FORBIDDEN, message)
    return SimulatorError(
        HTTPStatus.UNAUTHORIZED, message, headers={hdrs.WWW_AUTHENTICATE: "BASIC"}
    )


def authenticate(request: web.Request, sim: Simulator) -> None:
    """Accept an `auth_token` header or Basic credentials, as OL Connect does."""
    token = request.headers.get(AUTH_TOKEN_HEADER)
    if token is not None:
        state = sim.token_state(token)
        if state is TokenState.EXPIRED:
            raise refused(sim, "authentication token has expired", expired=True)
        if state is TokenState.UNKNOWN:
            raise refused(sim, "invalid authentication token")
        return
    try:
        credentials = basic_credentials(request)
    except GarbledCredentials:
        raise refused(sim, "invalid credentials") from None
    if credentials is None:
        raise authentication_required()
    if not sim.check_credentials(*credentials):
        raise refused(sim, "invalid credentials")
