"""Middlewares, outermost first: request id, access log + metrics, errors, path, auth, rate limit.

Their order is written once, in `gateway.app.create_app`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from gateway.access.addresses import ClientAddress
from gateway.access.clients import Authenticator, read_credential
from gateway.access.ratelimit import rate_policy, refusal_headers
from gateway.access.refusals import RATE_LIMITED, missing_scope
from gateway.catalogue import scope_names
from gateway.catalogue.paths import PathRefused, request_path
from gateway.edge.routing import UNMATCHED, Targets
from gateway.errors import Forbidden, GatewayError, RateLimited, error_body
from gateway.state import FACTS, RequestFacts
from gateway.telemetry.access_line import log_request
from gateway.telemetry.context import bind_request, start_request
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.stdlog import log_rejection, parser_error
from gateway.telemetry.throttle import RepeatedWarnings

REQUEST_ID = "X-Request-ID"
SERVER_NAME = "olconnect-gateway"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@=+/-]{1,128}")
_JSON = "application/json"
CLIENT_GONE = 499  # nginx's convention: the client closed the connection first
REQUEST_ID_KEY = web.RequestKey("request_id", str)

log = structlog.get_logger("gateway.access")


def route_template(request: web.Request, targets: Targets) -> str:
    """The route's template (``/…/jobsegments/{id}``), never the raw path: bounded labels."""
    target = targets.get(request.match_info.route)
    return target.label if target is not None else UNMATCHED


def error_response(status: int, message: str, parameter: str = "", **headers: str) -> web.Response:
    """An OL Connect JSON Error response."""
    return web.Response(
        status=status,
        body=error_body(status, message, parameter),
        content_type=_JSON,
        headers=headers or None,
    )


# A random per-process prefix and a counter: unique across processes and restarts,
# without a system call per request (request ids are labels, not secrets).
_REQUEST_ID_PREFIX = secrets.token_hex(8)
_request_numbers = itertools.count(1)


def _new_request_id() -> str:
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):016x}"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Echo a sane caller X-Request-ID or make one; bind it for every log line.

    `stamp_response` writes it on the answer as its head goes out.
    """
    request_id = request.headers.get(REQUEST_ID)
    if request_id is None or not _SANE_REQUEST_ID.fullmatch(request_id):
        request_id = _new_request_id()
    request[REQUEST_ID_KEY] = request_id
    start_request(request_id=request_id)
    return await handler(request)


async def stamp_response(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: X-Request-ID and our `Server` on every answer head.

    A signal, not a middleware's epilogue: a streamed answer's head is sent
    before its handler returns.
    """
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers[REQUEST_ID] = request_id
    # SECURITY: name the product, not the Python and aiohttp versions aiohttp would send.
    response.headers[hdrs.SERVER] = SERVER_NAME


def _milliseconds(seconds: float) -> float:
    """Milliseconds to two decimals (round(x, 2) on a float formats it: three times dearer)."""
    return round(seconds * 100_000) / 100


_USER_AGENT_MAX = 200  # characters of User-Agent on the access line


def user_agent(value: str) -> str:
    """The User-Agent for a log line: at most 200 characters, unprintable ones replaced."""
    if len(value) <= _USER_AGENT_MAX and value.isprintable():
        return value
    return "".join(c if c.isprintable() else "?" for c in value[:_USER_AGENT_MAX])


def _bytes_out(response: web.StreamResponse | None, method: str) -> int:
    """Answer body bytes when no stream counted them: the body about to be sent."""
    if response is None or method == hdrs.METH_HEAD:
        return 0
    return response.content_length or 0


def access_log_middleware(
    *, metrics: Metrics, targets: Targets, address: ClientAddress
) -> Middleware:
    """One canonical log event and the request metrics for every request.

    Every request pays for it, so the common case is written out inline: the
    peer's address, a short printable User-Agent, a body of bytes.

    Args:
        metrics: where request counts and latencies go.
        targets: the route table's labels (filled once routes are added).
        address: the client's address (the peer, or a trusted proxy's X-Forwarded-For).
    """
    resolve = address if address.trusts_proxies else None

    @web.middleware
    async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = CLIENT_GONE
        response = None
        facts = request[FACTS] = RequestFacts()
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            seconds = time.perf_counter() - started
            route = route_template(request, targets)
            client = facts.client
            client_name = client.name if client is not None else facts.named or "-"
            upstream = facts.upstream_seconds
            method = request.method
            agent = request.headers.get(hdrs.USER_AGENT, "-")
            if len(agent) > _USER_AGENT_MAX or not agent.isprintable():
                agent = user_agent(agent)
            sent = facts.bytes_out  # counted by a streamed answer
            if sent is None:
                body = response.body if type(response) is web.Response else None
                if type(body) is bytes and method != hdrs.METH_HEAD:  # a hit's stored bytes
                    sent = len(body)
                else:
                    sent = _bytes_out(response, method)
            fields = {
                "method": method,
                "path": request.path,
                "route": route,
                "status": status,
                "client": client_name,
                "cache": facts.cache_outcome,
                "duration_ms": _milliseconds(seconds),
                "remote": (request.remote or "-") if resolve is None else resolve(request),
                "user_agent": agent,
                "bytes_in": request.content.total_bytes,
                "bytes_out": sent,
            }
            if upstream is not None:
                fields["upstream_ms"] = _milliseconds(upstream)
            if facts.reason:
                fields["reason"] = facts.reason
            log_request(fields)
            metrics.observe_request(route, method, status, client_name, seconds)

    return access_log


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the OL Connect JSON Error; internals stay in the log."""
    try:
        return await handler(request)
    except GatewayError as exc:
        if exc.reason:  # a refusal: why, and whom, for the access line only
            facts = request[FACTS]
            facts.reason = exc.reason
            facts.named = exc.client
        return error_response(exc.status, exc.message, exc.parameter, **exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {hdrs.ALLOW: exc.headers[hdrs.ALLOW]} if hdrs.ALLOW in exc.headers else {}
        return error_response(exc.status, exc.reason.lower(), **headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        if (rejected := parser_error(exc)) is not None:
            # A body the parser refused mid-request: its message quotes the raw bytes, and
            # the connection's framing is lost, so it closes after this answer.
            log_rejection(rejected, request.remote)
            response = error_response(400, "malformed request")
            response.force_close()
            return response
        log.exception("unhandled_error", path=request.path)
        return error_response(500, "internal error")


@web.middleware
async def path_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Normalise the path once (SPEC §10.6): an ambiguous one is a 400 before any scope decision.

    aiohttp matched the route on its own decoding of the path; it must read the
    path as `request_path` does, or the route (and its scope) could belong to
    another path than the one forwarded.
    """
    path = request_path(request)
    matched = request.rel_url.path
    if len(matched) > 1 and matched.endswith("/"):
        matched = matched[:-1]
    if matched != path.decoded:
        raise PathRefused("path refused: it decodes ambiguously", parameter="path")
    return await handler(request)


def auth_middleware(*, authenticator: Authenticator, targets: Targets) -> Middleware:
    """Identify the client and check the route's scope.

    Args:
        authenticator: keys, sessions and clients.
        targets: each route's required scope; public routes (health, metrics,
            login) need none, and neither do unknown paths (they 404).
    """

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = targets.get(request.match_info.route)
        required = (
            None
            if target is None
            else target.required(request.method, request_path(request).decoded)
        )
        if required is None:
            return await handler(request)
        client = authenticator.identify(read_credential(request.headers))
        request[FACTS].client = client
        bind_request(client=client.name)
        if required.isdisjoint(client.scopes):
            names = scope_names(required)
            raise Forbidden(
                f"the client lacks the {names.replace(',', ' or ')} scope",
                parameter=names,
                reason=missing_scope(names),
            )
        return await handler(request)

    return auth


def rate_limit_middleware(
    *,
    acquire: Callable[[str, float], Awaitable[float]],
    metrics: Metrics,
    warnings: RepeatedWarnings,
) -> Middleware:
    """429 once a client exceeds its `rate_limit`, saying when to come back.

    Args:
        acquire: takes one request of a client's limit; 0 when allowed, else the
            seconds to wait (`RateLimiter.take` in this process, or
            `SharedLimits.acquire` across every gateway on a Redis).
        metrics: counts refusals per client.
        warnings: ``client_rate_limited``, once a minute per client at most.
    """

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = request[FACTS].client
        if client is not None and client.rate_limit is not None:
            wait = await acquire(client.name, client.rate_limit)
            if wait > 0:
                metrics.count_rate_limited(client.name)
                warnings.warning(
                    "client_rate_limited",
                    client.name,
                    client=client.name,
                    rate_limit=client.rate_limit,
                )
                quota, window = rate_policy(client.rate_limit)
                raise RateLimited(
                    headers=refusal_headers("default", quota, window, wait),
                    reason=RATE_LIMITED,
                )
        return await handler(request)

    return rate_limit
