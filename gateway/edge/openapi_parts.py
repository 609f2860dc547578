"""The building blocks of /openapi.json's operations: credentials, error answers, headers.

Written once here so that every operation of `gateway.edge.openapi` describes the four
credential forms, the gateway's JSON Error answers and its headers alike.
"""

from __future__ import annotations

from typing import Any

from gateway.catalogue import Scope, Scopes

JSON = "application/json"
TEXT = "text/plain"
# Any one of the four credential forms of SPEC §5 will do.
ANY_KEY: list[dict[str, list[str]]] = [
    {"apiKey": []},
    {"bearer": []},
    {"authToken": []},
    {"basic": []},
]
ERROR_TEXT = {
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
HEADER_NOTES = {
    401: {"WWW-Authenticate": "BASIC"},
    429: {"Retry-After": "seconds until a request may succeed"},
    502: {"Retry-After": "seconds until the next upstream probe, when the circuit is open"},
    503: {"Retry-After": "seconds until a retry may succeed"},
}
AUTH_ERRORS = (401, 403, 429)
UPSTREAM_ERRORS = (502, 504)
FORWARD_ERRORS = (502, 503, 504)


def string_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


REQUEST_ID = {"X-Request-ID": string_header("the caller's sane id (≤ 128 chars) or a new one")}
CACHE_HEADERS = {
    "X-Cache": {
        "description": "how the answer was produced",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "STALE", "BYPASS"]},
    },
    "Age": {
        "description": "whole seconds since the entry was stored (HIT and STALE only)",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Cache-Status": string_header(
        "RFC 9211, e.g. `olconnect-gateway; hit; ttl=42` or `olconnect-gateway; fwd=miss; stored`"
    ),
}


def error_answer(status: int) -> dict[str, Any]:
    headers = dict(REQUEST_ID)
    for name, text in HEADER_NOTES.get(status, {}).items():
        headers[name] = string_header(text)
    return {
        "description": ERROR_TEXT[status],
        "headers": headers,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def ok_answer(
    description: str, media_type: str | None, schema: dict[str, Any] | None, **headers: Any
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "headers": {**REQUEST_ID, **headers}}
    if media_type is not None:
        answer["content"] = {
            media_type: {"schema": {"type": "string"} if schema is None else schema}
        }
    return answer


ADMIN = frozenset({Scope.ADMIN})


def new_operation(
    summary: str,
    scopes: Scopes | None,
    success: dict[int, dict[str, Any]],
    errors: tuple[int, ...],
    **extra: Any,
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(status): answer for status, answer in success.items()}
    for status in sorted(set(errors) | (set(AUTH_ERRORS) if scopes else set())):
        responses[str(status)] = error_answer(status)
    operation: dict[str, Any] = {"summary": summary, "responses": responses, **extra}
    operation["security"] = ANY_KEY if scopes else []
    if scopes:
        operation["x-scopes"] = [scope.value for scope in Scope if scope in scopes]
    return operation


SECURITY_SCHEMES: dict[str, Any] = {
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


ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "entity id: a decimal integer in 1..2^63-1",
    "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1},
}
FAMILY = {
    "name": "family",
    "in": "path",
    "required": True,
    "description": "entity family: jobsets, jobs, jobsegments, documentsets, documents, "
    "datasets, datarecords, contentsets, contentitems",
    "schema": {"type": "string"},
}


def purge_entity() -> dict[str, Any]:
    return {
        "parameters": [FAMILY, ID],
        "delete": new_operation(
            "Drop every cached read of one entity (and the job-set statistics above it, "
            "and a set's get-all list)",
            ADMIN,
            {204: no_content()},
            (400, 404),
        ),
    }


def public(summary: str, media_type: str, schema: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return new_operation(summary, None, {200: ok_answer(summary, media_type, schema)}, ())


def no_content() -> dict[str, Any]:
    return ok_answer("done", None, None)
