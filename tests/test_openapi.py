"""/openapi.json: served without a key, and in step with the routes the app registers."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import MakeConfig

from gateway import openapi
from gateway.app import ROUTE_SCOPES, create_app
from gateway.handlers import JOBSEGMENTS, LOGIN

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def registered(make_config: MakeConfig) -> set[tuple[str, str]]:
    """(method, template) of every route, without the HEAD aiohttp adds to each GET."""
    routes = {
        (route.method, route.resource.canonical)
        for route in create_app(make_config()).router.routes()
        if route.resource is not None
    }
    return {
        (method, path)
        for method, path in routes
        if not (method == hdrs.METH_HEAD and (hdrs.METH_GET, path) in routes)
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


def test_openapi_security_matches_route_scopes() -> None:
    """Scoped routes accept the four credential forms and name their scope; others are public."""
    schemes = set(openapi.build()["components"]["securitySchemes"])
    assert schemes == {"apiKey", "bearer", "authToken", "basic"}
    for key, operation in described().items():
        scope = ROUTE_SCOPES.get(key)
        assert operation.get("x-scope") == scope, key
        if scope is None:
            assert operation["security"] in ([], [{"basic": []}]), key
        else:
            assert {next(iter(s)) for s in operation["security"]} == schemes, key


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", openapi.SEGMENT, {400, 401, 403, 404, 429, 502, 504}),
        ("GET", openapi.SEGMENT + "/metadata", {400, 401, 403, 404, 429, 502, 504}),
        ("PUT", openapi.SEGMENT + "/metadata", {400, 401, 403, 404, 408, 413, 429, 502, 504}),
        ("GET", JOBSEGMENTS, {401, 403, 429, 502, 504}),
        ("POST", LOGIN, {401, 403}),
        ("DELETE", "/admin/cache/jobsegments/{id}", {400, 401, 403, 429}),
    ],
)
def test_openapi_errors_are_json_errors(method: str, path: str, statuses: set[int]) -> None:
    """Each route lists the error statuses SPEC §5 gives it, each as the JSON Error schema."""
    responses = described()[(method, path)]["responses"]
    errors = {int(status) for status in responses if int(status) >= 400}
    assert errors == statuses
    for status in errors:
        content = responses[str(status)]["content"]
        assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        assert "X-Request-ID" in responses[str(status)]["headers"]


def test_openapi_cached_routes_declare_cache_headers() -> None:
    """The cached GETs document X-Cache, Age and Cache-Status on their 200."""
    for path in (openapi.SEGMENT, openapi.SEGMENT + "/metadata"):
        headers = described()[("GET", path)]["responses"]["200"]["headers"]
        assert {"X-Cache", "Age", "Cache-Status", "X-Request-ID"} <= set(headers)
