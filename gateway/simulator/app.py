"""The simulator's aiohttp application: OL Connect routes, auth, latency, faults."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from http import HTTPStatus

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.errors import error_body
from gateway.simulator import controls
from gateway.simulator.data import parse_properties
from gateway.simulator.faults import fault_response
from gateway.simulator.state import ROUTES, Simulator, TokenState

SIMULATOR_KEY = web.AppKey("simulator", Simulator)
_RELEASE_KEY = web.AppKey("simulator_release", asyncio.Event)

LOGIN_PATH = "/rest/serverengine/authentication/login"
JOBSEGMENTS_PATH = "/rest/serverengine/entity/jobsegments"
SERVICE_NAME = "Job Segment Service available"
SERVICE_VERSION = "2025.1.0"
AUTH_TOKEN_HEADER = "auth_token"  # noqa: S105 - a header name, not a secret


class SimulatorError(Exception):
    """An OL Connect JSON Error answer, raised anywhere below the middlewares."""

    def __init__(
        self,
        status: int,
        message: str,
        parameter: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter
        self.headers = headers or {}


def create_simulator_app(sim: Simulator, *, expose_controls: bool = False) -> web.Application:
    """Build the aiohttp application that serves `sim`.

    Args:
        sim: the state to serve; `app[SIMULATOR_KEY]` is this object.
        expose_controls: also serve the `/_sim/*` control routes (tests only, never the demo).
    """
    app = web.Application(middlewares=[_json_errors, _simulate])
    app[SIMULATOR_KEY] = sim
    app[_RELEASE_KEY] = asyncio.Event()
    app.on_shutdown.append(_release_hanging)
    app.router.add_post(LOGIN_PATH, _login, name="login")
    app.router.add_get(JOBSEGMENTS_PATH, _handshake, name="handshake")
    # Registered before `{jobSegmentId}` so that "version" is never read as an id.
    app.router.add_get(f"{JOBSEGMENTS_PATH}/version", _version, name="version")
    app.router.add_get(f"{JOBSEGMENTS_PATH}/{{jobSegmentId}}", _document_sets, name="document_sets")
    metadata = f"{JOBSEGMENTS_PATH}/{{jobSegmentId}}/metadata"
    app.router.add_get(metadata, _metadata_get, name="metadata_get")
    app.router.add_put(metadata, _metadata_put, name="metadata_put")
    if expose_controls:
        controls.add_routes(app.router, sim)
    return app


async def _release_hanging(app: web.Application) -> None:
    app[_RELEASE_KEY].set()


def _error_response(
    status: int, message: str, parameter: str = "", headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(status, message, parameter),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn `SimulatorError` and aiohttp's own 4xx (no route, bad method) into JSON Errors."""
    try:
        return await handler(request)
    except SimulatorError as exc:
        return _error_response(exc.status, exc.message, exc.parameter, exc.headers)
    except web.HTTPException as exc:
        if exc.status < HTTPStatus.BAD_REQUEST:
            raise
        headers: dict[str, str] = {}
        if hdrs.ALLOW in exc.headers:
            headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
        return _error_response(exc.status, exc.reason, request.path, headers)


@web.middleware
async def _simulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count, delay, inject the fault and check auth, in that order."""
    route = request.match_info.route.name
    if route not in ROUTES:
        return await handler(request)
    sim = request.app[SIMULATOR_KEY]
    sim.calls[route] += 1
    delay = sim.delay(route)
    if delay > 0:
        await asyncio.sleep(delay)
    if route != "login":
        if sim.fault is not None:
            return await fault_response(request, sim.fault, request.app[_RELEASE_KEY])
        _authenticate(request, sim)
    return await handler(request)


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """The Basic credentials of the request, None without any; 403 when garbled."""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SimulatorError(HTTPStatus.FORBIDDEN, "invalid credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise SimulatorError(HTTPStatus.FORBIDDEN, "invalid credentials")
    return username, password


def _authentication_required() -> SimulatorError:
    return SimulatorError(
        HTTPStatus.UNAUTHORIZED,
        "server authentication is required",
        headers={hdrs.WWW_AUTHENTICATE: "BASIC"},
    )


def _authenticate(request: web.Request, sim: Simulator) -> None:
    """Accept an `auth_token` header or Basic credentials, as OL Connect does."""
    token = request.headers.get(AUTH_TOKEN_HEADER)
    if token is not None:
        state = sim.token_state(token)
        if state is TokenState.EXPIRED:
            raise SimulatorError(HTTPStatus.UNAUTHORIZED, "authentication token has expired")
        if state is TokenState.UNKNOWN:
            raise SimulatorError(HTTPStatus.FORBIDDEN, "invalid authentication token")
        return
    credentials = _basic_credentials(request)
    if credentials is None:
        raise _authentication_required()
    if not sim.check_credentials(*credentials):
        raise SimulatorError(HTTPStatus.FORBIDDEN, "invalid credentials")


async def _login(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    credentials = _basic_credentials(request)
    if credentials is None:
        raise _authentication_required()
    if sim.reject_logins or not sim.check_credentials(*credentials):
        raise SimulatorError(HTTPStatus.FORBIDDEN, "invalid credentials")
    headers = {"Token-Expires-In": str(sim.token_expires_in)} if sim.send_token_expiry else None
    return web.Response(text=sim.issue_token(), headers=headers)


async def _handshake(request: web.Request) -> web.Response:
    return web.Response(text=SERVICE_NAME)


async def _version(request: web.Request) -> web.Response:
    return web.Response(text=SERVICE_VERSION)


def _segment_id(request: web.Request) -> int:
    """The path's job segment id; 404 naming it when no such segment exists."""
    raw = request.match_info["jobSegmentId"]
    data = request.app[SIMULATOR_KEY].data
    if raw.isascii() and raw.isdigit() and data.get(int(raw)) is not None:
        return int(raw)
    raise SimulatorError(HTTPStatus.NOT_FOUND, "job segment not found", raw)


async def _document_sets(request: web.Request) -> web.Response:
    ids = request.app[SIMULATOR_KEY].document_sets(_segment_id(request))
    return web.json_response({"identifiers": ids})


async def _metadata_get(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR_KEY].metadata(_segment_id(request)))


async def _metadata_put(request: web.Request) -> web.Response:
    segment_id = _segment_id(request)
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SimulatorError(HTTPStatus.BAD_REQUEST, "request body is not valid JSON") from None
    if not isinstance(body, dict) or set(body) != {"id", "properties"}:
        raise SimulatorError(HTTPStatus.BAD_REQUEST, "expected a JSON object with id, properties")
    body_id = body["id"]
    if isinstance(body_id, bool) or not isinstance(body_id, int | float):
        raise SimulatorError(HTTPStatus.BAD_REQUEST, "id must be a number", "id")
    try:
        properties = parse_properties("properties", body["properties"])
    except ValueError as exc:
        raise SimulatorError(HTTPStatus.BAD_REQUEST, str(exc), "properties") from None
    if body_id != segment_id:
        # OL Connect answers an id mismatch with a server error, not a 400.
        raise SimulatorError(
            HTTPStatus.INTERNAL_SERVER_ERROR, "job segment id mismatch in JSON", str(body_id)
        )
    request.app[SIMULATOR_KEY].data.set_metadata(segment_id, properties)
    return web.Response(text="true")
