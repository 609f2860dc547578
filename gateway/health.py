"""Health (/healthz), readiness (/readyz: an upstream token is held or obtainable), metrics."""

from __future__ import annotations

import math
from http import HTTPStatus

from aiohttp import hdrs, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.breaker import BreakerState
from gateway.errors import CircuitOpen, UpstreamError, UpstreamTimeout
from gateway.keys import METRICS, TOKENS, UPSTREAM

_OK = b'{"status":"ok"}'


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves requests."""
    return web.Response(body=_OK, content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 with a valid upstream token (logging in if needed), else 503 and why.

    Not ready while the upstream circuit is open: requests would fail fast.
    """
    breaker = request.app[UPSTREAM].breaker
    if breaker.state is BreakerState.OPEN:
        return web.json_response(
            {"status": "unavailable", "reason": CircuitOpen.message},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            headers={hdrs.RETRY_AFTER: str(max(1, math.ceil(breaker.retry_in())))},
        )
    try:
        await request.app[TOKENS].token()
    except (UpstreamError, UpstreamTimeout) as exc:
        return web.json_response(
            {"status": "unavailable", "reason": exc.message},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this app's registry."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST})
