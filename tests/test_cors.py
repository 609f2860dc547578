"""CORS (SPEC §8.6): listed origins get preflights and exposed headers; others get nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import MakeGateway, key_header

APP = "https://app.example.com"
SEGMENT = "/rest/serverengine/entity/jobsegments/5"
PREFLIGHT = {
    hdrs.ORIGIN: APP,
    hdrs.ACCESS_CONTROL_REQUEST_METHOD: "PUT",
    hdrs.ACCESS_CONTROL_REQUEST_HEADERS: "auth_token, content-type",
}


@pytest.fixture
async def cors_gateway(make_gateway: MakeGateway) -> TestClient[Any, Any]:
    return await make_gateway(server={"cors_origins": [APP]})


async def test_cors_preflight_needs_no_credential(cors_gateway: TestClient[Any, Any]) -> None:
    """A listed origin's preflight is 204 without a key, allowing the credential headers."""
    response = await cors_gateway.options(SEGMENT + "/metadata", headers=PREFLIGHT)
    assert response.status == 204
    headers = response.headers
    assert headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] == APP
    assert "Origin" in headers.getall(hdrs.VARY)
    allowed = {h.strip().lower() for h in headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS].split(",")}
    assert {"auth_token", "x-api-key", "authorization", "content-type"} <= allowed
    assert {"prefer", "last-event-id"} <= allowed  # waiting for operations (SPEC §11.3)
    assert "PUT" in headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS]
    assert "X-Request-ID" in headers


async def test_cors_answers_expose_the_client_headers(cors_gateway: TestClient[Any, Any]) -> None:
    """Answers to a listed origin name it and expose operationId, Link, X-Cache and friends."""
    for headers in ({hdrs.ORIGIN: APP, **key_header()}, {hdrs.ORIGIN: APP}):
        response = await cors_gateway.get(SEGMENT, headers=headers)  # a 200, then a 401
        assert response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] == APP
        assert "Origin" in response.headers.getall(hdrs.VARY)
        exposed = {
            h.strip() for h in response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS].split(",")
        }
        assert {
            "operationId",
            "Link",
            "Content-Disposition",
            "X-Cache",
            "Cache-Status",
            "X-Request-ID",
            "Preference-Applied",
        } <= exposed


@pytest.mark.parametrize("origin", ["https://evil.example.com", "null", APP + ".evil.com"])
async def test_cors_other_origins_get_no_cors_headers(
    cors_gateway: TestClient[Any, Any], origin: str
) -> None:
    """An origin not in server.cors_origins gets no CORS header, and no preflight answer."""
    response = await cors_gateway.get(SEGMENT, headers={hdrs.ORIGIN: origin, **key_header()})
    assert response.status == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control")]
    preflight = await cors_gateway.options(SEGMENT, headers={**PREFLIGHT, hdrs.ORIGIN: origin})
    assert preflight.status == 405
    assert not [name for name in preflight.headers if name.lower().startswith("access-control")]


async def test_cors_off_by_default(make_gateway: MakeGateway) -> None:
    """Without server.cors_origins no answer carries CORS headers and OPTIONS stays a 405."""
    gateway = await make_gateway()
    response = await gateway.get(SEGMENT, headers={hdrs.ORIGIN: APP, **key_header()})
    assert not [name for name in response.headers if name.lower().startswith("access-control")]
    assert (await gateway.options(SEGMENT, headers=PREFLIGHT)).status == 405


@pytest.mark.parametrize(
    "origin", ["app.example.com", "https://app.example.com/", "https://a.com/path", "ftp://a.com"]
)
def test_cors_config_refuses_what_is_not_an_origin(origin: str) -> None:
    """server.cors_origins takes scheme://host[:port] only, reported by key path."""
    from gateway.config.model import ConfigError, parse_config

    text = (
        "upstream: {url: 'http://u:9340', username: u, password: p}\n"
        "clients: [{name: a, key_sha256: '" + "0" * 64 + "'}]\n"
        f"server: {{cors_origins: ['{origin}']}}\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, {})
    assert raised.value.problems[0].startswith("server.cors_origins")
