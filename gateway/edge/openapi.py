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
from gateway.catalogue import LOGIN, ROUTES, SERVICES, Action, Owner, Route, Scope, Shape
from gateway.edge.openapi_parts import (
    ADMIN,
    CACHE_HEADERS,
    FAMILY,
    FORWARD_ERRORS,
    ID,
    JSON,
    REQUEST_ID,
    SECURITY_SCHEMES,
    TEXT,
    UPSTREAM_ERRORS,
    new_operation,
    no_content,
    ok_answer,
    public,
    purge_entity,
    string_header,
)
from gateway.edge.openapi_schemas import BODIES, SCHEMAS, ref
from gateway.edge.operation_events import EVENTS
from gateway.edge.own_routes import (
    ADMIN_CACHE,
    ADMIN_ENTITY,
    ADMIN_FAMILY,
    ADMIN_FAMILY_ENTITY,
    ADMIN_SEGMENT,
)
from gateway.engines.validated_write import MAX_BODY

_PARAMETER = re.compile(r"\{([A-Za-z_]+)(?::([^}]*))?\}")
_SCHEMA_OF_SHAPE = {
    Shape.IDENTIFIERS: "IdentifierList",
    Shape.ALL_SETS: "IdentifierList",
    Shape.NAME_VALUES: "NameValueListPropertiesOnly",
}


def _path(template: str) -> str:
    """The OpenAPI path of a catalogue template: ``{relPath:.+}`` → ``{relPath}``."""
    return _PARAMETER.sub(lambda match: "{" + match.group(1) + "}", template)


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for name, pattern in _PARAMETER.findall(route.template):
        if name == "id" and route.cache is not None:
            parameters.append(ID)
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
    bodies = BODIES.get((route.method, route.template))
    if bodies is not None and bodies.response:
        ok = ok_answer(route.summary, bodies.label, ref(bodies.response), **CACHE_HEADERS)
    elif schema_name is not None:
        ok = ok_answer(
            route.summary, JSON, {"$ref": f"#/components/schemas/{schema_name}"}, **CACHE_HEADERS
        )
    elif route.cache.shape is Shape.JSON:
        ok = ok_answer(route.summary, JSON, {}, **CACHE_HEADERS)
    else:
        ok = {"description": route.summary, "headers": {**REQUEST_ID, **CACHE_HEADERS}}
    errors = (404, 415, *UPSTREAM_ERRORS) + ((400,) if "{id}" in route.template else ())
    return new_operation(
        f"{route.summary} (cached)",
        route.scopes,
        {200: ok},
        errors,
        **{"x-kind": route.kind.value, "x-cache": route.cache.ttl.value},
    )


def _validated(route: Route) -> dict[str, Any]:
    return new_operation(
        f"{route.summary}: passed through; the entity's cached reads are dropped",
        route.scopes,
        {200: ok_answer("OL Connect's answer, `true`", TEXT, None)},
        (400, 404, 408, 413, 415, *UPSTREAM_ERRORS),
        requestBody={
            "required": True,
            "description": f"at most {MAX_BODY} bytes; `id` must equal the path id",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Update"}}},
        },
        **{"x-kind": route.kind.value},
    )


_PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "`wait=N` (N ≤ 60): answered once the operation is done, or after N s with "
    "the latest progress; `Preference-Applied: wait=N` says so",
    "schema": {"type": "string"},
}
_PASSED_BACK = {
    "description": "OL Connect's answer, passed back as it is (status, body, end-to-end "
    "headers such as operationId, Link, Location and Content-Disposition; upstream URLs "
    "made origin-relative)",
    "headers": REQUEST_ID,
}


def _forwarded(route: Route) -> dict[str, Any]:
    has_body = route.method not in ("GET", "HEAD")
    errors = (*FORWARD_ERRORS, *((408, 413) if has_body else ()))
    extra: dict[str, Any] = {"x-kind": route.kind.value, "x-forwarded": True}
    if route.owner is not None:  # another group's operation or file: 404 (SPEC §11.1)
        extra["x-owner"] = route.owner.value
    if route.owner is Owner.PROGRESS:
        extra["parameters"] = [_PREFER]
    if route.unsafe:
        # SPEC §10.2: OL Connect runs the GET for a HEAD; the gateway answers HEAD 405.
        extra["x-unsafe"] = True
        extra["description"] = (
            "This GET changes state in OL Connect: HEAD on it is a 405 and is never "
            "forwarded; it is never cached and never sent twice."
        )
    bodies = BODIES.get((route.method, route.template))
    if bodies is not None and bodies.request:
        extra["requestBody"] = {
            "required": not bodies.optional,
            "description": "OL Connect's JSON structure, streamed to it as sent",
            "content": {JSON: {"schema": ref(bodies.request)}},
        }
    elif has_body:
        extra["requestBody"] = {
            "required": False,
            "description": "streamed to OL Connect as sent (at most `server.max_body`)",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    success: dict[int, dict[str, Any]] = {}
    if bodies is not None and bodies.response:
        answer = ok_answer("OL Connect's answer, passed back", bodies.label, ref(bodies.response))
        if bodies.text:  # the reference's other form: an id as text/plain
            answer["content"][TEXT] = {"schema": {"type": "string"}}
        success[200] = answer
    operation = new_operation(route.summary, route.scopes, success, errors, **extra)
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
                "post": new_operation(
                    "Log in: Basic `<client name>:<api key>` → a gateway session token",
                    None,
                    {
                        200: ok_answer(
                            "the session token",
                            TEXT,
                            None,
                            **{"Token-Expires-In": string_header("server.session_ttl")},
                        )
                    },
                    (401, 429),
                    security=[{"basic": []}],
                )
            },
            **_catalogue_paths(),
            EVENTS: {
                "parameters": [
                    {
                        "name": "operationId",
                        "in": "path",
                        "required": True,
                        "description": "an operation started through the gateway",
                        "schema": {"type": "string"},
                    }
                ],
                "get": new_operation(
                    "Progress of an operation as Server-Sent Events: `progress` per change, "
                    "then `done` with its result routes",
                    frozenset({Scope.RUN}),
                    {200: ok_answer("the event stream", "text/event-stream", None)},
                    (400, 404),  # 400: an id that is no plain path segment (SPEC §10.6)
                ),
            },
            "/healthz": {"get": public("Liveness", JSON, "Health")},
            "/readyz": {
                "get": new_operation(
                    "Readiness: the upstream answers and a token is held or obtainable",
                    None,
                    {
                        200: ok_answer("ready", JSON, {"$ref": "#/components/schemas/Readiness"}),
                        503: ok_answer(
                            "not ready", JSON, {"$ref": "#/components/schemas/Readiness"}
                        ),
                    },
                    (),
                )
            },
            "/metrics": {"get": public("Prometheus text exposition", TEXT, None)},
            "/openapi.json": {"get": public("This document", JSON, {"type": "object"})},
            ADMIN_CACHE: {
                "delete": new_operation("Drop every cached entry", ADMIN, {204: no_content()}, ())
            },
            ADMIN_SEGMENT: {
                "parameters": [ID],
                "delete": new_operation(
                    "Drop every cached read of one job segment",
                    ADMIN,
                    {204: no_content()},
                    (400,),
                ),
            },
            ADMIN_ENTITY: purge_entity(),
            ADMIN_FAMILY_ENTITY: purge_entity(),
            ADMIN_FAMILY: {
                "parameters": [FAMILY],
                "delete": new_operation(
                    "Drop every cached read of one entity family (after OL Connect changed "
                    "many of its entities itself)",
                    ADMIN,
                    {204: no_content()},
                    (400, 404),
                ),
            },
        },
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }


DOCUMENT = json.dumps(build(), separators=(",", ":")).encode()


async def serve(_request: web.Request) -> web.Response:
    """GET /openapi.json: the document, built at import."""
    return web.Response(body=DOCUMENT, content_type=JSON)
