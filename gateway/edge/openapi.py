"""The OpenAPI 3 description of the downstream API (SPEC §5, §8), served at /openapi.json.

Generated once from the route catalogue and the gateway's own routes, so the
error schema, the credential forms and the cache headers are written once;
`tests/test_openapi.py` checks that it names every route the app registers,
with the catalogue's scopes, and nothing more. Every operation carries
``x-scopes`` (the scopes it accepts, any one of them), ``x-kind`` and, when
cached, ``x-cache`` (the `cache.ttl` key); forwarded operations are marked
``x-forwarded``.
"""

from __future__ import annotations

import json
import re
from typing import Any, assert_never

from aiohttp import web

from gateway import __version__
from gateway.catalogue import LOGIN, ROUTES, SERVICES, Action, Route, Scope, Scopes, Shape
from gateway.edge.own_routes import (
    ADMIN_CACHE,
    ADMIN_ENTITY,
    ADMIN_FAMILY,
    ADMIN_FAMILY_ENTITY,
    ADMIN_SEGMENT,
)
from gateway.engines.validated_write import MAX_BODY

_PARAMETER = re.compile(r"\{([A-Za-z_]+)(?::([^}]*))?\}")
_JSON = "application/json"
_TEXT = "text/plain"
# Any one of the four credential forms of SPEC §5 will do.
_ANY_KEY: list[dict[str, list[str]]] = [
    {"apiKey": []},
    {"bearer": []},
    {"authToken": []},
    {"basic": []},
]
_ERROR_TEXT = {
    400: "Bad request: an id that is not a decimal integer in 1..2^63-1, an invalid body, or "
    "a path a servlet container could read otherwise (refused before routing).",
    401: "No credential (with `WWW-Authenticate`), or an expired session token.",
    403: "Unknown key, or a key with none of the route's scopes (`x-scopes`).",
    404: "No such entity (negative-cached for `cache.ttl.not_found`).",
    405: "The login path takes POST only.",
    408: "The request body did not arrive within `server.client_timeout`.",
    413: "Request body over its limit (1 MiB validated, `server.max_body` forwarded).",
    415: "A `Content-Encoding` other than identity on a route that reads the body (or has "
    "none): the gateway never inflates a request body.",
    429: "Over the client's `rate_limit` (with `Retry-After`).",
    502: "Upstream unreachable, 5xx, invalid answer, refused the gateway's login, "
    "or its circuit is open — and no usable stale entry.",
    503: "Every upstream slot busy for `upstream.timeout`, or the token was refused on a "
    "streamed body (retry; with `Retry-After`).",
    504: "Upstream slower than `upstream.timeout`.",
}
_HEADER_NOTES = {
    401: {"WWW-Authenticate": "BASIC"},
    429: {"Retry-After": "seconds until a request may succeed"},
    502: {"Retry-After": "seconds until the next upstream probe, when the circuit is open"},
    503: {"Retry-After": "seconds until a retry may succeed"},
}
_AUTH_ERRORS = (401, 403, 429)
_UPSTREAM_ERRORS = (502, 504)
_FORWARD_ERRORS = (502, 503, 504)


def _string_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


_REQUEST_ID = {"X-Request-ID": _string_header("the caller's sane id (≤ 128 chars) or a new one")}
_CACHE_HEADERS = {
    "X-Cache": {
        "description": "how the answer was produced",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "STALE", "BYPASS"]},
    },
    "Age": {
        "description": "whole seconds since the entry was stored (HIT and STALE only)",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Cache-Status": _string_header(
        "RFC 9211, e.g. `olconnect-gateway; hit; ttl=42` or `olconnect-gateway; fwd=miss; stored`"
    ),
}


def _error(status: int) -> dict[str, Any]:
    headers = dict(_REQUEST_ID)
    for name, text in _HEADER_NOTES.get(status, {}).items():
        headers[name] = _string_header(text)
    return {
        "description": _ERROR_TEXT[status],
        "headers": headers,
        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(
    description: str, media_type: str | None, schema: dict[str, Any] | None, **headers: Any
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "headers": {**_REQUEST_ID, **headers}}
    if media_type is not None:
        answer["content"] = {
            media_type: {"schema": {"type": "string"} if schema is None else schema}
        }
    return answer


_ADMIN = frozenset({Scope.ADMIN})


def _operation(
    summary: str,
    scopes: Scopes | None,
    success: dict[int, dict[str, Any]],
    errors: tuple[int, ...],
    **extra: Any,
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(status): answer for status, answer in success.items()}
    for status in sorted(set(errors) | (set(_AUTH_ERRORS) if scopes else set())):
        responses[str(status)] = _error(status)
    operation: dict[str, Any] = {"summary": summary, "responses": responses, **extra}
    operation["security"] = _ANY_KEY if scopes else []
    if scopes:
        operation["x-scopes"] = [scope.value for scope in Scope if scope in scopes]
    return operation


_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "entity id: a decimal integer in 1..2^63-1",
    "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1},
}
_SCHEMA_OF_SHAPE = {
    Shape.IDENTIFIERS: "IdentifierList",
    Shape.ALL_SETS: "IdentifierList",
    Shape.NAME_VALUES: "PropertyList",
}


def _path(template: str) -> str:
    """The OpenAPI path of a catalogue template: ``{relPath:.+}`` → ``{relPath}``."""
    return _PARAMETER.sub(lambda match: "{" + match.group(1) + "}", template)


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for name, pattern in _PARAMETER.findall(route.template):
        if name == "id" and route.cache is not None:
            parameters.append(_ID)
            continue
        schema: dict[str, Any] = {"type": "string"}
        if pattern and pattern != ".+":
            schema["pattern"] = f"^{pattern}$"
        description = "spans slashes" if pattern == ".+" else "passed through as sent"
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": schema,
            }
        )
    return parameters


def _cached(route: Route) -> dict[str, Any]:
    assert route.cache is not None  # noqa: S101 - only called for cached routes
    schema_name = _SCHEMA_OF_SHAPE.get(route.cache.shape)
    if schema_name is not None:
        ok = _ok(
            route.summary, _JSON, {"$ref": f"#/components/schemas/{schema_name}"}, **_CACHE_HEADERS
        )
    elif route.cache.shape is Shape.JSON:
        ok = _ok(route.summary, _JSON, {}, **_CACHE_HEADERS)
    else:
        ok = {"description": route.summary, "headers": {**_REQUEST_ID, **_CACHE_HEADERS}}
    errors = (404, 415, *_UPSTREAM_ERRORS) + ((400,) if "{id}" in route.template else ())
    return _operation(
        f"{route.summary} (cached)",
        route.scopes,
        {200: ok},
        errors,
        **{"x-kind": route.kind.value, "x-cache": route.cache.ttl.value},
    )


def _validated(route: Route) -> dict[str, Any]:
    return _operation(
        f"{route.summary}: passed through; the entity's cached reads are dropped",
        route.scopes,
        {200: _ok("OL Connect's answer, `true`", _TEXT, None)},
        (400, 404, 408, 413, 415, *_UPSTREAM_ERRORS),
        requestBody={
            "required": True,
            "description": f"at most {MAX_BODY} bytes; `id` must equal the path id",
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Update"}}},
        },
        **{"x-kind": route.kind.value},
    )


_PASSED_BACK = {
    "description": "OL Connect's answer, passed back as it is (status, body, end-to-end "
    "headers such as operationId, Link, Location and Content-Disposition; upstream URLs "
    "made origin-relative)",
    "headers": _REQUEST_ID,
}


def _forwarded(route: Route) -> dict[str, Any]:
    has_body = route.method not in ("GET", "HEAD")
    errors = (*_FORWARD_ERRORS, *((408, 413) if has_body else ()))
    extra: dict[str, Any] = {"x-kind": route.kind.value, "x-forwarded": True}
    if route.unsafe:
        # SPEC §10.2: OL Connect runs the GET for a HEAD; the gateway answers HEAD 405.
        extra["x-unsafe"] = True
        extra["description"] = (
            "This GET changes state in OL Connect: HEAD on it is a 405 and is never "
            "forwarded; it is never cached and never sent twice."
        )
    if has_body:
        extra["requestBody"] = {
            "required": False,
            "description": "streamed to OL Connect as sent (at most `server.max_body`)",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    operation = _operation(route.summary, route.scopes, {}, errors, **extra)
    operation["responses"] = {"default": _PASSED_BACK, **operation["responses"]}
    return operation


def _catalogue_paths() -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        match route.action:
            case Action.OWN:
                continue  # the login is described with the gateway's own routes
            case Action.CACHED_READ:
                operation = _cached(route)
            case Action.VALIDATED_WRITE:
                operation = _validated(route)
            case Action.FORWARD:
                operation = _forwarded(route)
            case _:
                assert_never(route.action)
        item = paths.setdefault(_path(route.template), {})
        parameters = _parameters(route)
        if parameters:
            item["parameters"] = parameters
        item[route.method.lower()] = operation
    return paths


def _services() -> str:
    names = ", ".join(f"`{service.base}`" for service in SERVICES if service.forwards_unlisted)
    return (
        "A request for a route these paths do not list, under one of these services, is "
        f"forwarded too, with the scope its service and method give it: {names}. "
        "An OL Connect path with one trailing slash is served as the path without it; a "
        "path a servlet container could read otherwise (a dot segment in any spelling, `;`, "
        "an encoded `/` or `\\`, a `%u` escape, bytes that are not UTF-8, a `_method` "
        "query parameter) is a 400 and never forwarded."
    )


def build() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "olconnect-gateway",
            "version": __version__,
            "description": "A caching, credential-holding gateway in front of the OL Connect "
            "REST API. Paths mirror OL Connect's. Every error the gateway itself answers is an "
            "OL Connect JSON Error. " + _services(),
        },
        "paths": {
            LOGIN.template: {
                "post": _operation(
                    "Log in: Basic `<client name>:<api key>` → a gateway session token",
                    None,
                    {
                        200: _ok(
                            "the session token",
                            _TEXT,
                            None,
                            **{"Token-Expires-In": _string_header("server.session_ttl")},
                        )
                    },
                    (401, 429),
                    security=[{"basic": []}],
                )
            },
            **_catalogue_paths(),
            "/healthz": {"get": _public("Liveness", _JSON, "Health")},
            "/readyz": {
                "get": _operation(
                    "Readiness: the upstream answers and a token is held or obtainable",
                    None,
                    {
                        200: _ok("ready", _JSON, {"$ref": "#/components/schemas/Readiness"}),
                        503: _ok("not ready", _JSON, {"$ref": "#/components/schemas/Readiness"}),
                    },
                    (),
                )
            },
            "/metrics": {"get": _public("Prometheus text exposition", _TEXT, None)},
            "/openapi.json": {"get": _public("This document", _JSON, {"type": "object"})},
            ADMIN_CACHE: {
                "delete": _operation("Drop every cached entry", _ADMIN, {204: _no_content()}, ())
            },
            ADMIN_SEGMENT: {
                "parameters": [_ID],
                "delete": _operation(
                    "Drop every cached read of one job segment",
                    _ADMIN,
                    {204: _no_content()},
                    (400,),
                ),
            },
            ADMIN_ENTITY: _purge_entity(),
            ADMIN_FAMILY_ENTITY: _purge_entity(),
            ADMIN_FAMILY: {
                "parameters": [_FAMILY],
                "delete": _operation(
                    "Drop every cached read of one entity family (after OL Connect changed "
                    "many of its entities itself)",
                    _ADMIN,
                    {204: _no_content()},
                    (400, 404),
                ),
            },
        },
        "components": {"schemas": _SCHEMAS, "securitySchemes": _SECURITY_SCHEMES},
    }


_FAMILY = {
    "name": "family",
    "in": "path",
    "required": True,
    "description": "entity family: jobsets, jobs, jobsegments, documentsets, documents, "
    "datasets, datarecords, contentsets, contentitems",
    "schema": {"type": "string"},
}


def _purge_entity() -> dict[str, Any]:
    return {
        "parameters": [_FAMILY, _ID],
        "delete": _operation(
            "Drop every cached read of one entity (and the job-set statistics above it, "
            "and a set's get-all list)",
            _ADMIN,
            {204: _no_content()},
            (400, 404),
        ),
    }


def _public(summary: str, media_type: str, schema: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return _operation(summary, None, {200: _ok(summary, media_type, schema)}, ())


def _no_content() -> dict[str, Any]:
    return _ok("done", None, None)


_PROPERTY = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
}
_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message", "parameter"],
                "properties": {
                    "status": {"type": "integer"},
                    "message": {"type": "string"},
                    "parameter": {"type": "string"},
                },
            }
        },
    },
    "IdentifierList": {
        "type": "object",
        "required": ["identifiers"],
        "properties": {"identifiers": {"type": "array", "items": {"type": "integer"}}},
    },
    "PropertyList": {"type": "array", "items": _PROPERTY},
    "Update": {
        "type": "object",
        "required": ["id", "properties"],
        "properties": {
            "id": {"type": "integer", "format": "int64", "minimum": 1},
            "properties": {"type": "array", "items": _PROPERTY},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
    },
}
_SECURITY_SCHEMES: dict[str, Any] = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "the API key as a bearer"},
    "authToken": {
        "type": "apiKey",
        "in": "header",
        "name": "auth_token",
        "description": "OL Connect's header: an API key or a gateway session token",
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "`<client name>:<api key>`, as an OL Connect client sends its login",
    },
}

DOCUMENT = json.dumps(build(), separators=(",", ":")).encode()


async def serve(_request: web.Request) -> web.Response:
    """GET /openapi.json: the document, built at import."""
    return web.Response(body=DOCUMENT, content_type=_JSON)
