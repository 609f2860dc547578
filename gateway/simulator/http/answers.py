"""What every simulator handler shares: answer builders, body and id parsing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web

from gateway.errors import error_body
from gateway.simulator.model.data import Properties, parse_properties
from gateway.simulator.model.errors import SimulatorError, bad_request

#: OL Connect labels JSON exactly so (no charset); its rest.js client compares the label literally.
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain"
#: The largest JSON request body a handler reads into memory.
MAX_JSON_BODY = 8 * 1024 * 1024


def error_response(
    status: int, message: str, parameter: str = "", headers: Mapping[str, str] | None = None
) -> web.Response:
    """The JSON Error answer itself."""
    return web.Response(
        status=status,
        body=error_body(status, message, parameter),
        headers={**(headers or {}), hdrs.CONTENT_TYPE: JSON_TYPE},
    )


def json_answer(value: object, status: int = HTTPStatus.OK) -> web.Response:
    """A JSON answer labelled exactly `application/json` (web.json_response adds a charset)."""
    body = json.dumps(value, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, headers={hdrs.CONTENT_TYPE: JSON_TYPE})


def text_answer(
    text: str, headers: Mapping[str, str] | None = None, content_type: str = TEXT_TYPE
) -> web.Response:
    """A `text/plain` answer (ids, `true`, progress, handshakes); JSON text is labelled
    `application/json` exactly, without a charset."""
    if content_type == JSON_TYPE:
        body = text.encode()
        return web.Response(body=body, headers={**(headers or {}), hdrs.CONTENT_TYPE: JSON_TYPE})
    return web.Response(text=text, content_type=content_type, headers=headers)


def accepts(accept: str, media_type: str) -> bool:
    """Whether an `Accept` header value allows `media_type` (`type/sub`, `type/*`, `*/*`
    with q > 0)."""
    main = media_type.split("/")[0]
    for item in accept.split(","):
        kind, _, params = item.strip().partition(";")
        kind = kind.strip().lower()
        if kind not in (media_type, f"{main}/*", "*/*"):
            continue
        key, _, value = params.strip().partition("=")
        try:
            quality = float(value) if key.strip().lower() == "q" else 1.0
        except ValueError:
            quality = 0.0
        if quality > 0:
            return True
    return False


def true_answer() -> web.Response:
    """What every successful write answers."""
    return text_answer("true")


async def _read(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise SimulatorError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body is too large")
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise SimulatorError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body is too large")
    return raw


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise bad_request("request body is not valid JSON") from None


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 400 when it is not JSON, 413 when it is too large."""
    return _parse(await _read(request))


async def read_optional_json(request: web.Request) -> Any:
    """The request body as JSON, None when there is none (a route that "takes no content"
    or optional parameters); 400 when there is one that is not JSON."""
    raw = await _read(request)
    return _parse(raw) if raw.strip() else None


def path_id(request: web.Request, name: str) -> int | None:
    """The decimal id in path parameter `name`, or None when it is not one."""
    raw = request.match_info[name]
    if raw.isascii() and raw.isdigit() and len(raw) <= 19:
        return int(raw)
    return None


def body_id(value: object, where: str = "id") -> int:
    """A JSON number that is a whole id, or a string of decimal digits (Jackson, OL Connect's
    JSON reader, coerces `"12"` to a long; rest.js sends ids so); 400 otherwise."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{where} must be a number", where)
    if isinstance(value, float) and not value.is_integer():
        raise bad_request(f"{where} must be a whole number", where)
    return int(value)


def id_list(body: object, key: str = "identifiers") -> list[int]:
    """The ids of a JSON Identifier List `{"identifiers": [...]}`; 400 for another shape."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise bad_request(f"expected a JSON object with a list {key}")
    return [body_id(item, key) for item in body[key]]


def name_value_update(
    body: object, path_value: int, key: str = "properties", what: str = "entity"
) -> Properties:
    """Check `{"id": n, "<key>": [{"name","value"}...]}` against the path id and return the list.

    A body that is not that shape is a 400; a body id other than the path's is a 500,
    as OL Connect answers it.
    """
    if not isinstance(body, dict) or set(body) != {"id", key}:
        raise bad_request(f"expected a JSON object with id, {key}")
    body_value = body_id(body["id"])
    try:
        values = parse_properties(key, body[key])
    except ValueError as exc:
        raise bad_request(str(exc), key) from None
    if body_value != path_value:
        raise SimulatorError(
            HTTPStatus.INTERNAL_SERVER_ERROR, f"{what} id mismatch in JSON", str(body["id"])
        )
    return values


def name_value_lists(body: object, key: str = "properties") -> list[tuple[int, Properties]]:
    """A bulk body: a JSON array of `{"id": n, "<key>": [...]}`; 400 for another shape."""
    if not isinstance(body, list):
        raise bad_request(f"expected a JSON array of objects with id, {key}")
    updates: list[tuple[int, Properties]] = []
    for index, item in enumerate(body):
        if not isinstance(item, dict) or set(item) != {"id", key}:
            raise bad_request(f"[{index}]: expected an object with id, {key}")
        try:
            values = parse_properties(f"[{index}].{key}", item[key])
        except ValueError as exc:
            raise bad_request(str(exc), key) from None
        updates.append((body_id(item["id"], f"[{index}].id"), values))
    return updates


def origin(request: web.Request) -> str:
    """`scheme://host[:port]` as the client addressed this server (for absolute URLs)."""
    return f"{request.scheme}://{request.host}"


#: The path the simulator is served under (`create_simulator_app(prefix=...)`), if any.
BASE_PATH_KEY = web.AppKey("simulator_base_path", str)


def base_url(request: web.Request) -> str:
    """Where this server's routes start: its origin, plus the path it is served under."""
    return origin(request) + request.app.get(BASE_PATH_KEY, "")
