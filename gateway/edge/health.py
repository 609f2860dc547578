"""Health (/healthz), readiness (/readyz: the upstream answers now, see `readiness`), metrics."""

from __future__ import annotations

import math
from http import HTTPStatus

from aiohttp import hdrs, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.edge.worker_metrics import gateway_exposition
from gateway.errors import CircuitOpen
from gateway.state import METRICS, READINESS, UPSTREAM, WORKERS
from gateway.upstream.breaker import BreakerState
from gateway.upstream.readiness import PROBE_MAX_BODY, PROBE_PATH, PROBE_ROUTE

_OK = b'{"status":"ok"}'


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves requests."""
    return web.Response(body=_OK, content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 while the upstream answers, else 503 with the reason and its cause.

    Decided by the last upstream outcome and, when that is old, one shared probe
    (`gateway.upstream.readiness`); while the circuit is open, at once and without a probe.
    """
    upstream = request.app[UPSTREAM]
    breaker = upstream.breaker
    if breaker.state is BreakerState.OPEN:
        return web.json_response(
            {"status": "unavailable", "reason": CircuitOpen.message, "cause": "circuit_open"},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            headers={hdrs.RETRY_AFTER: str(max(1, math.ceil(breaker.retry_in())))},
        )
    not_ready = await request.app[READINESS].check(
        lambda: upstream.request(
            hdrs.METH_GET, PROBE_PATH, route=PROBE_ROUTE, max_body=PROBE_MAX_BODY
        )
    )
    if not_ready is not None:
        return web.json_response(
            {"status": "unavailable", "reason": not_ready.reason, "cause": not_ready.cause},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition: this process's registry, or every worker's merged."""
    if WORKERS in request.app:
        body = await gateway_exposition(request.app)
    else:
        body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST})
