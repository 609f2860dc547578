"""/openapi.json: served without a key, and in step with the routes the app registers."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient
from conftest import MakeConfig

from gateway.catalogue import LOGIN as LOGIN_ROUTE
from gateway.catalogue import ROUTES, scope_names
from gateway.edge import openapi
from gateway.edge.routing import UNMATCHED, add_routes

LOGIN = LOGIN_ROUTE.template
JOBSEGMENTS = "/rest/serverengine/entity/jobsegments"
SEGMENT = JOBSEGMENTS + "/{id}"

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def registered(make_config: MakeConfig) -> set[tuple[str, str]]:
    """(method, template) of every route, without the HEAD added to each GET, the catch-alls
    of the services (described in the document's text), the login path's 405 and the
    trailing-slash twin of each OL Connect route (SPEC §10.6, in the document's text)."""
    targets = add_routes(web.Application(), make_config())
    routes = {
        (route.method, route.resource.canonical)
        for route, target in targets.items()
        if route.resource is not None
        and route.method != hdrs.METH_ANY
        and not target.label.endswith("/*")
        and target.label != UNMATCHED
        and not route.resource.canonical.endswith("/")
    }
    listed_heads = {
        openapi._path(route.template) for route in ROUTES if route.method == hdrs.METH_HEAD
    }
    return {
        (method, path)
        for method, path in routes
        if not (
            method == hdrs.METH_HEAD
            and (hdrs.METH_GET, path) in routes
            and path not in listed_heads
        )
    }


def described() -> dict[tuple[str, str], dict[str, Any]]:
    document = openapi.build()
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


async def test_openapi_served_without_a_key(gateway: TestClient[Any, Any]) -> None:
    """GET /openapi.json needs no key and answers the OpenAPI 3 document as JSON."""
    async with gateway.get("/openapi.json") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        document = await response.json()
    assert document == openapi.build()
    assert document["openapi"].startswith("3.")


def test_openapi_describes_every_route_and_no_other(make_config: MakeConfig) -> None:
    """Every (method, path template) the app serves is described, and nothing else is."""
    assert set(described()) == registered(make_config)


def test_openapi_security_matches_route_scopes(make_config: MakeConfig) -> None:
    """Scoped routes accept the four credential forms and name their scope; others are public."""
    schemes = set(openapi.build()["components"]["securitySchemes"])
    assert schemes == {"apiKey", "bearer", "authToken", "basic"}
    targets = add_routes(web.Application(), make_config())
    scopes = {
        (route.method, route.resource.canonical): target.scopes
        for route, target in targets.items()
        if route.resource is not None and target.service is None
    }
    for key, operation in described().items():
        scope = scopes[key]
        assert operation.get("x-scopes") == (
            None if scope is None else scope_names(scope).split(",")
        ), key
        if scope is None:
            assert operation["security"] in ([], [{"basic": []}]), key
        else:
            assert {next(iter(s)) for s in operation["security"]} == schemes, key


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", SEGMENT, {400, 401, 403, 404, 415, 429, 502, 504}),
        ("GET", SEGMENT + "/metadata", {400, 401, 403, 404, 415, 429, 502, 504}),
        ("PUT", SEGMENT + "/metadata", {400, 401, 403, 404, 408, 413, 415, 429, 502, 504}),
        ("GET", JOBSEGMENTS, {401, 403, 404, 415, 429, 502, 504}),
        ("POST", LOGIN, {401, 429}),
        ("DELETE", "/admin/cache/jobsegments/{id}", {400, 401, 403, 429}),
        ("DELETE", "/admin/cache/entity/{family}/{id}", {400, 401, 403, 404, 429}),
        ("POST", "/rest/serverengine/filestore/DataFile", {401, 403, 408, 413, 429, 502, 503, 504}),
        (
            "GET",
            "/rest/serverengine/workflow/datamining/getProgress/{operationId}",
            {401, 403, 429, 502, 503, 504},
        ),
    ],
)
def test_openapi_errors_are_json_errors(method: str, path: str, statuses: set[int]) -> None:
    """Each route lists the error statuses SPEC §5 gives it, each as the JSON Error schema."""
    responses = described()[(method, path)]["responses"]
    errors = {int(status) for status in responses if status.isdigit() and int(status) >= 400}
    assert errors == statuses
    for status in errors:
        content = responses[str(status)]["content"]
        assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        assert "X-Request-ID" in responses[str(status)]["headers"]


def test_openapi_cached_routes_declare_cache_headers() -> None:
    """The cached GETs document X-Cache, Age and Cache-Status on their 200."""
    for path in (SEGMENT, SEGMENT + "/metadata"):
        headers = described()[("GET", path)]["responses"]["200"]["headers"]
        assert {"X-Cache", "Age", "Cache-Status", "X-Request-ID"} <= set(headers)


def test_openapi_describes_every_catalogue_route_with_its_kind() -> None:
    """Each catalogue route is an operation with its scope and kind; cached ones name their TTL."""
    operations = described()
    for route in ROUTES:
        path = openapi._path(route.template)
        operation = operations[(route.method, path)]
        if route.scopes is not None:
            assert operation["x-scopes"] == scope_names(route.scopes).split(",")
            assert operation["x-kind"] == route.kind.value
        if route.cache is not None:
            assert operation["x-cache"] == route.cache.ttl.value


def test_openapi_bodies_name_catalogue_routes_and_schemas() -> None:
    """Every (method, template) of the body map is a catalogue route, every structure it names
    is a component, and each component is a valid schema that names its sources."""
    from jsonschema import Draft202012Validator

    from gateway.edge.openapi_schemas import BODIES, OWN_SCHEMAS, SCHEMAS

    routes = {(route.method, route.template) for route in ROUTES}
    assert set(BODIES) <= routes
    for bodies in BODIES.values():
        assert set(bodies.request) | set(bodies.response) <= set(SCHEMAS)
    for name, schema in SCHEMAS.items():
        Draft202012Validator.check_schema(schema)
        assert name in OWN_SCHEMAS or schema["x-source"], name


def test_openapi_describes_json_bodies_with_the_vendors_structures() -> None:
    """A forwarded route that takes JSON names its structure; a cached read its answer's."""
    operations = described()
    find = operations[("PUT", "/rest/serverengine/entity/find")]
    assert find["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchParameters"
    }
    answer = find["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/IdentifierListsWithSortKey"}
    submit = operations[("POST", "/rest/serverengine/workflow/print/submit")]["requestBody"]
    assert submit["required"] is True
    stats = operations[("GET", "/rest/serverengine/statistics/jobset/{id}")]["responses"]["200"]
    assert stats["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSetStatistics"
    }
    upload = operations[("POST", "/rest/serverengine/filestore/DataFile")]["requestBody"]
    assert set(upload["content"]) == {"*/*"}  # a raw file, not JSON
