"""Headers each way (SPEC §10.7, issue 23 informational): `trace_id` up, `OL-Original-Filename`
down; method overrides and forwarding headers never up; credential-named headers never down;
CORS exposes and allows what OL Connect's clients read and send."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient
from conftest import MakeConfig, MakeGateway, key_header
from pytest_aiohttp import AiohttpServer

from gateway.simulator import Simulator

Client = TestClient[Any, Any]
B = "/rest/serverengine"
ADMIN = key_header("admin")
APP = "https://app.example.com"

STRIPPED_UP = {
    "X-HTTP-Method-Override": "DELETE",
    "X-HTTP-Method": "DELETE",
    "X-Method-Override": "PUT",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-For": "10.0.0.1",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/other",
    "Forwarded": "for=10.0.0.1;host=evil.example",
    "X-Original-URL": "/rest/serverengine/filestore/delete/1",
    "X-Rewrite-URL": "/rest/serverengine/filestore/delete/1",
}
CREDENTIALS_DOWN = {
    "auth_token": "upstream-token-leak",
    "Authorization": "Basic b2wtYWRtaW46c2VjcmV0",
    "Set-Cookie": "JSESSIONID=ABC; Path=/",
    "Set-Cookie2": "JSESSIONID=ABC",
    "Proxy-Authenticate": "Basic",
    "WWW-Authenticate": "BASIC",
    "X-API-Key": "leak",
    "Cookie": "JSESSIONID=ABC",
    "Token-Expires-In": "3600",
}
PASSED_DOWN = {
    "OL-Original-Filename": "Rechnung.pdf",
    "Content-Disposition": 'attachment; filename="Rechnung.pdf"',
    "operationId": "op-1",
    "X-Data-Set-ID": "7",
    "X-Result-Type": "OUTPUT",
}


async def test_headers_trace_id_goes_up_and_overrides_and_forwarding_do_not(
    gateway: Client, simulator: Simulator
) -> None:
    """A forwarded request keeps `trace_id` and loses every method override and forwarding
    header; OL Connect sees the gateway as its client."""
    headers = {**ADMIN, "trace_id": "trace-42", **STRIPPED_UP}
    async with gateway.get(f"{B}/filestore/resources", headers=headers) as answer:
        assert answer.status == 200
    seen = simulator.last_request["filestore.resources"]
    assert seen.method == "GET"
    assert seen.headers["trace_id"] == "trace-42"
    for name in STRIPPED_UP:
        assert name not in seen.headers, name


@pytest.fixture
async def leaky_gateway(
    aiohttp_server: AiohttpServer, make_config: MakeConfig, make_gateway: MakeGateway
) -> Client:
    """A gateway in front of an upstream whose answers carry credential-named headers."""

    async def login(_request: web.Request) -> web.Response:
        return web.Response(text="upstream-token")

    async def download(_request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF", headers={**CREDENTIALS_DOWN, **PASSED_DOWN})

    upstream = web.Application()
    upstream.router.add_post(f"{B}/authentication/login", login)
    upstream.router.add_get(f"{B}/filestore/file/{{fileId}}", download)
    server = await aiohttp_server(upstream)
    url = str(server.make_url("")).rstrip("/")
    return await make_gateway(make_config(upstream={"url": url}, server={"cors_origins": [APP]}))


async def test_headers_credential_named_answer_headers_never_reach_the_client(
    leaky_gateway: Client,
) -> None:
    """`auth_token`, `Authorization`, cookies and challenges from OL Connect are dropped;
    `OL-Original-Filename`, `operationId` and the `X-*-ID` headers pass back."""
    async with leaky_gateway.get(
        f"{B}/filestore/file/1", headers={**ADMIN, hdrs.ORIGIN: APP}
    ) as answer:
        assert answer.status == 200
        assert await answer.read() == b"%PDF"
        for name in CREDENTIALS_DOWN:
            assert name not in answer.headers, name
        for name, value in PASSED_DOWN.items():
            assert answer.headers[name] == value
        exposed = {h.strip() for h in answer.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS].split(",")}
    assert set(PASSED_DOWN) <= exposed


async def test_headers_cors_exposes_what_clients_read_and_allows_what_they_send(
    make_gateway: MakeGateway,
) -> None:
    """CORS exposes operationId, Link, Location, Content-Disposition, OL-Original-Filename,
    Token-Expires-In, the all-in-one X-*-ID and X-Result-Type; it allows Cache-Control and
    trace_id on requests."""
    gateway = await make_gateway(server={"cors_origins": [APP]})
    preflight = {
        hdrs.ORIGIN: APP,
        hdrs.ACCESS_CONTROL_REQUEST_METHOD: "GET",
        hdrs.ACCESS_CONTROL_REQUEST_HEADERS: "cache-control, trace_id, auth_token",
    }
    async with gateway.options(f"{B}/entity/jobs/1", headers=preflight) as answer:
        assert answer.status == 204
        allowed = {
            h.strip().lower() for h in answer.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS].split(",")
        }
    assert {"cache-control", "trace_id", "auth_token"} <= allowed
    async with gateway.get(f"{B}/entity/jobs/1", headers={**ADMIN, hdrs.ORIGIN: APP}) as answer:
        exposed = {h.strip() for h in answer.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS].split(",")}
    assert {
        "operationId",
        "Link",
        "Location",
        "Content-Disposition",
        "OL-Original-Filename",
        "Token-Expires-In",
        "X-Data-Set-ID",
        "X-Content-Set-ID",
        "X-Job-Set-ID",
        "X-Result-Type",
    } <= exposed
