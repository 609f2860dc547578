"""The `/_sim/*` HTTP controls, for tests that run the simulator in another process."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

from gateway.errors import error_body
from gateway.simulator.state import ROUTES, Fault, Simulator

PREFIX = "/_sim"
_FAULT_KEYS = {"fault", "latency", "route_latency", "reject_logins"}


def add_routes(router: web.UrlDispatcher, sim: Simulator) -> None:
    """Serve the controls of `sim` under `/_sim`."""

    async def calls(request: web.Request) -> web.Response:
        return web.json_response({route: sim.calls[route] for route in ROUTES})

    async def expire_tokens(request: web.Request) -> web.Response:
        sim.expire_all_tokens()
        return web.json_response({"status": "ok"})

    async def reset(request: web.Request) -> web.Response:
        sim.reset()
        return web.json_response({"status": "ok"})

    async def fault(request: web.Request) -> web.Response:
        try:
            changes = _parse_fault_body(await request.read())
        except ValueError as exc:
            status = HTTPStatus.BAD_REQUEST
            return web.Response(
                status=status, body=error_body(status, str(exc)), content_type="application/json"
            )
        for name, value in changes.items():
            setattr(sim, name, value)
        return web.json_response(
            {
                "fault": sim.fault,
                "latency": sim.latency,
                "route_latency": sim.route_latency,
                "reject_logins": sim.reject_logins,
            }
        )

    router.add_get(f"{PREFIX}/calls", calls)
    router.add_post(f"{PREFIX}/expire-tokens", expire_tokens)
    router.add_post(f"{PREFIX}/reset", reset)
    router.add_put(f"{PREFIX}/fault", fault)


def _parse_fault_body(raw: bytes) -> dict[str, Any]:
    """Validate `{"fault", "latency", "route_latency", "reject_logins"}`, all optional."""
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("body is not valid JSON") from None
    if not isinstance(body, dict) or not set(body) <= _FAULT_KEYS:
        raise ValueError(f"expected a JSON object with some of {sorted(_FAULT_KEYS)}")
    changes: dict[str, Any] = {}
    if "fault" in body:
        try:
            changes["fault"] = None if body["fault"] is None else Fault(body["fault"])
        except ValueError:
            raise ValueError(f"fault: must be null or one of {[f.value for f in Fault]}") from None
    if "latency" in body:
        changes["latency"] = _seconds("latency", body["latency"])
    if "route_latency" in body:
        routes = body["route_latency"]
        if not isinstance(routes, dict) or not set(routes) <= set(ROUTES):
            raise ValueError(f"route_latency: must map some of {list(ROUTES)} to seconds")
        changes["route_latency"] = {k: _seconds(f"route_latency.{k}", v) for k, v in routes.items()}
    if "reject_logins" in body:
        if not isinstance(body["reject_logins"], bool):
            raise ValueError("reject_logins: must be true or false")
        changes["reject_logins"] = body["reject_logins"]
    return changes


def _seconds(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where}: must be a number of seconds >= 0")
    return float(value)
