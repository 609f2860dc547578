"""The `/_sim/*` HTTP controls, for tests that run the simulator in another process.

* `GET /_sim/calls`: calls per route name (every name in `ROUTES`).
* `PUT /_sim/fault`: set any of `fault`, `latency`, `route_latency`, `route_hold`, `reject_logins`,
  `compress`, `redirect_to`, `stall` (`{"after_bytes", "seconds"}` or null),
  `download_delay`, `progress_steps`, `answer_headers` (`{name: value}`), `newer_routes`
  (a list of paths); answers every setting.
* `GET /_sim/requests`: the last request per route (method, raw path, query, headers).
* `POST /_sim/files`: `{"name", "size"}` adds a generated file; answers `{"id"}`.
* `POST /_sim/expire-tokens`, `POST /_sim/reset`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from gateway.simulator.http.answers import error_response, json_answer
from gateway.simulator.model.state import ROUTES, Compress, Fault, Simulator, Stall

PREFIX = "/_sim"


def add_routes(router: web.UrlDispatcher, sim: Simulator) -> None:
    """Serve the controls of `sim` under `/_sim`."""

    async def calls(request: web.Request) -> web.Response:
        return json_answer({route: sim.calls[route] for route in ROUTES})

    async def expire_tokens(request: web.Request) -> web.Response:
        sim.expire_all_tokens()
        return json_answer({"status": "ok"})

    async def reset(request: web.Request) -> web.Response:
        sim.reset()
        return json_answer({"status": "ok"})

    async def fault(request: web.Request) -> web.Response:
        try:
            changes = _parse_settings(_json(await request.read()))
        except ValueError as exc:
            return error_response(HTTPStatus.BAD_REQUEST, str(exc))
        for name, value in changes.items():
            setattr(sim, name, value)
        return json_answer(settings(sim))

    async def requests(request: web.Request) -> web.Response:
        return json_answer(
            {
                name: {
                    "method": seen.method,
                    "raw_path": seen.raw_path,
                    "query_string": seen.query_string,
                    "headers": [[k, v] for k, v in seen.headers.items()],
                }
                for name, seen in sim.last_request.items()
            }
        )

    async def files(request: web.Request) -> web.Response:
        try:
            body = _json(await request.read())
            if not isinstance(body, dict) or set(body) != {"name", "size"}:
                raise ValueError("expected a JSON object with name, size")
            if not isinstance(body["name"], str) or not body["name"]:
                raise ValueError("name: must be a non-empty string")
            size = body["size"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError("size: must be a whole number of bytes >= 0")
        except ValueError as exc:
            return error_response(HTTPStatus.BAD_REQUEST, str(exc))
        return json_answer({"id": sim.generate_file(body["name"], size)})

    router.add_get(f"{PREFIX}/calls", calls)
    router.add_post(f"{PREFIX}/expire-tokens", expire_tokens)
    router.add_post(f"{PREFIX}/reset", reset)
    router.add_put(f"{PREFIX}/fault", fault)
    router.add_get(f"{PREFIX}/requests", requests)
    router.add_post(f"{PREFIX}/files", files)


def settings(sim: Simulator) -> dict[str, Any]:
    """Every setting `PUT /_sim/fault` can change, as JSON."""
    stall = sim.stall
    return {
        "fault": sim.fault,
        "latency": sim.latency,
        "route_latency": sim.route_latency,
        "route_hold": sim.route_hold,
        "reject_logins": sim.reject_logins,
        "compress": sim.compress,
        "redirect_to": sim.redirect_to,
        "stall": None
        if stall is None
        else {"after_bytes": stall.after_bytes, "seconds": stall.seconds},
        "download_delay": sim.download_delay,
        "progress_steps": list(sim.progress_steps),
        "answer_headers": dict(sim.answer_headers),
        "newer_routes": sorted(sim.newer_routes),
    }


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("body is not valid JSON") from None


def _parse_settings(body: object) -> dict[str, Any]:
    """Validate a settings object; every key optional, nothing applied unless all are valid."""
    if not isinstance(body, dict) or not set(body) <= set(_PARSERS):
        raise ValueError(f"expected a JSON object with some of {sorted(_PARSERS)}")
    return {name: _PARSERS[name](value) for name, value in body.items()}


def _fault(value: object) -> Fault | None:
    try:
        return None if value is None else Fault(str(value))
    except ValueError:
        raise ValueError(f"fault: must be null or one of {[f.value for f in Fault]}") from None


def _compress(value: object) -> Compress:
    try:
        return Compress(str(value))
    except ValueError:
        raise ValueError(f"compress: must be one of {[c.value for c in Compress]}") from None


def _redirect_to(value: object) -> str | None:
    if value is None or (isinstance(value, str) and (value.startswith("/") or "://" in value)):
        return value
    raise ValueError("redirect_to: must be null, a path starting with /, or an absolute URL")


def _stall(value: object) -> Stall | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"after_bytes", "seconds"}:
        raise ValueError("stall: must be null or {after_bytes, seconds}")
    after = value["after_bytes"]
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError("stall.after_bytes: must be a whole number >= 0")
    return Stall(after, _seconds("stall.seconds", value["seconds"]))


def _route_seconds(name: str) -> Callable[[object], dict[str, float]]:
    def parse(value: object) -> dict[str, float]:
        if not isinstance(value, dict) or not set(value) <= set(ROUTES):
            raise ValueError(f"{name}: must map some of {list(ROUTES)} to seconds")
        return {k: _seconds(f"{name}.{k}", v) for k, v in value.items()}

    return parse


def _reject_logins(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("reject_logins: must be true or false")
    return value


def _progress_steps(value: object) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100 for v in value
    ):
        raise ValueError("progress_steps: must be a list of whole numbers 0..100")
    return value


def _answer_headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and name and isinstance(text, str) for name, text in value.items()
    ):
        raise ValueError("answer_headers: must map header names to string values")
    return dict(value)


def _newer_routes(value: object) -> set[str]:
    if not isinstance(value, list) or not all(
        isinstance(path, str) and path.startswith("/") for path in value
    ):
        raise ValueError("newer_routes: must be a list of paths starting with /")
    return set(value)


def _seconds(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where}: must be a number of seconds >= 0")
    return float(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "fault": _fault,
    "latency": lambda v: _seconds("latency", v),
    "route_latency": _route_seconds("route_latency"),
    "route_hold": _route_seconds("route_hold"),
    "reject_logins": _reject_logins,
    "compress": _compress,
    "redirect_to": _redirect_to,
    "stall": _stall,
    "download_delay": lambda v: _seconds("download_delay", v),
    "progress_steps": _progress_steps,
    "answer_headers": _answer_headers,
    "newer_routes": _newer_routes,
}
