"""The OpenAPI 3 description of the downstream API (SPEC §5), served at /openapi.json.

Built once from this module so the error schema, the credential forms and the
cache headers are written once; `tests/test_openapi.py` checks that it names
every route the app registers, with the app's scopes, and nothing more.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.handlers import JOBSEGMENTS, LOGIN, MAX_BODY

SEGMENT = JOBSEGMENTS + "/{id}"
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
    400: "Bad request: an id that is not a decimal integer in 1..2^63-1, or an invalid body.",
    401: "No credential (with `WWW-Authenticate`), or an expired session token.",
    403: "Unknown key, or a key without the route's scope.",
    404: "No such job segment (negative-cached for `cache.ttl.not_found`).",
    408: "The request body did not arrive within `server.client_timeout`.",
    413: "Request body over 1 MiB.",
    429: "Over the client's `rate_limit` (with `Retry-After`).",
    502: "Upstream unreachable, 5xx, invalid answer, refused the gateway's login, "
    "or its circuit is open — and no usable stale entry.",
    504: "Upstream slower than `upstream.timeout`.",
}
_HEADER_NOTES = {
    401: {"WWW-Authenticate": "BASIC"},
    429: {"Retry-After": "seconds until a request may succeed"},
    502: {"Retry-After": "seconds until the next upstream probe, when the circuit is open"},
}
_AUTH_ERRORS = (401, 403, 429)
_UPSTREAM_ERRORS = (502, 504)


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
        answer["content"] = {media_type: {"schema": schema or {"type": "string"}}}
    return answer


def _operation(
    summary: str,
    scope: str | None,
    success: dict[int, dict[str, Any]],
    errors: tuple[int, ...],
    **extra: Any,
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(status): answer for status, answer in success.items()}
    for status in sorted(set(errors) | (set(_AUTH_ERRORS) if scope else set())):
        responses[str(status)] = _error(status)
    operation: dict[str, Any] = {"summary": summary, "responses": responses, **extra}
    operation["security"] = _ANY_KEY if scope else []
    if scope:
        operation["x-scope"] = scope
    return operation


_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "job segment id: a decimal integer in 1..2^63-1",
    "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1},
}


def _cached(summary: str, schema: str) -> dict[str, Any]:
    ok = _ok(summary, _JSON, {"$ref": f"#/components/schemas/{schema}"}, **_CACHE_HEADERS)
    return _operation(summary, "read", {200: ok}, (400, 404, *_UPSTREAM_ERRORS))


def _passed_through(summary: str) -> dict[str, Any]:
    return _operation(summary, "read", {200: _ok(summary, _TEXT, None)}, _UPSTREAM_ERRORS)


def build() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "olconnect-gateway",
            "version": __version__,
            "description": "A caching, credential-holding gateway in front of the OL Connect "
            "REST API. Paths mirror OL Connect's. Every error is an OL Connect JSON Error.",
        },
        "paths": {
            LOGIN: {
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
                    (401, 403),
                    security=[{"basic": []}],
                )
            },
            JOBSEGMENTS: {"get": _passed_through("Service handshake, passed through")},
            JOBSEGMENTS + "/version": {"get": _passed_through("Service version, passed through")},
            SEGMENT: {
                "parameters": [_ID],
                "get": _cached("Document sets of a job segment (cached)", "IdentifierList"),
            },
            SEGMENT + "/metadata": {
                "parameters": [_ID],
                "get": _cached("Metadata of a job segment (cached)", "PropertyList"),
                "put": _operation(
                    "Update metadata, passed through; the cached metadata is dropped",
                    "write",
                    {200: _ok("OL Connect's answer, `true`", _TEXT, None)},
                    (400, 404, 408, 413, *_UPSTREAM_ERRORS),
                    requestBody={
                        "required": True,
                        "description": f"at most {MAX_BODY} bytes; `id` must equal the path id",
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Update"}}},
                    },
                ),
            },
            "/healthz": {"get": _public("Liveness", _JSON, "Health")},
            "/readyz": {
                "get": _operation(
                    "Readiness: an upstream token is held or obtainable, the circuit is not open",
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
            "/admin/cache": {
                "delete": _operation("Drop every cached entry", "admin", {204: _no_content()}, ())
            },
            "/admin/cache/jobsegments/{id}": {
                "parameters": [_ID],
                "delete": _operation(
                    "Drop both cached entries of one job segment",
                    "admin",
                    {204: _no_content()},
                    (400,),
                ),
            },
        },
        "components": {"schemas": _SCHEMAS, "securitySchemes": _SECURITY_SCHEMES},
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
