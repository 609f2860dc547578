"""Request ids, the canonical access log, error translation, and that no secret is ever logged."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway, basic_auth_header, key_header
from pytest_aiohttp import AiohttpClient

from gateway.edge.middlewares import error_middleware, request_id_middleware, stamp_response
from gateway.simulator import Fault, Simulator

SEGMENTS = "/rest/serverengine/entity/jobsegments"
LOGIN = "/rest/serverengine/authentication/login"


def events(log_output: io.StringIO) -> list[dict[str, Any]]:
    """Every JSON log line written so far."""
    return [json.loads(line) for line in log_output.getvalue().splitlines() if line]


def requests_logged(log_output: io.StringIO) -> list[dict[str, Any]]:
    return [event for event in events(log_output) if event["event"] == "request"]


@pytest.mark.parametrize("request_id", ["abc-123", "a" * 128, "trace:span/1.2@x=y+z"])
async def test_request_id_is_echoed_when_sane(
    gateway: TestClient[Any, Any], request_id: str
) -> None:
    """A sane caller X-Request-ID comes back unchanged."""
    response = await gateway.get("/healthz", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id


@pytest.mark.parametrize("request_id", [None, "", "a" * 129, "has space", "semi;colon", "é"])
async def test_request_id_is_generated_otherwise(
    gateway: TestClient[Any, Any], request_id: str | None
) -> None:
    """A missing or insane X-Request-ID is replaced by a fresh one."""
    headers = {} if request_id is None else {"X-Request-ID": request_id}
    response = await gateway.get("/healthz", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert generated
    assert generated != request_id
    assert len(generated) <= 128


async def test_server_header_names_no_versions(gateway: TestClient[Any, Any]) -> None:
    """Answers say `Server: olconnect-gateway`, without Python or aiohttp versions."""
    for path in ("/healthz", "/nowhere", f"{SEGMENTS}/1"):
        response = await gateway.get(path)
        assert response.headers["Server"] == "olconnect-gateway"


async def test_request_id_on_error_answers(gateway: TestClient[Any, Any]) -> None:
    """Error answers (401, 404, 400) carry X-Request-ID too."""
    for path in (f"{SEGMENTS}/1", "/nowhere"):
        response = await gateway.get(path, headers={"X-Request-ID": "err-1"})
        assert response.status >= 400
        assert response.headers["X-Request-ID"] == "err-1"


async def test_access_log_one_event_per_request_with_fields(
    gateway: TestClient[Any, Any], log_output: io.StringIO
) -> None:
    """Each request logs exactly one `request` event with the SPEC §6 fields."""
    await gateway.get(f"{SEGMENTS}/5", headers={**key_header(), "X-Request-ID": "r-1"})
    await gateway.get(f"{SEGMENTS}/5", headers={**key_header(), "X-Request-ID": "r-2"})
    await gateway.get("/healthz", headers={"X-Request-ID": "r-3"})
    logged = requests_logged(log_output)
    assert [event["request_id"] for event in logged] == ["r-1", "r-2", "r-3"]
    miss, hit, health = logged
    for event in logged:
        assert {"request_id", "client", "method", "path", "status", "cache", "duration_ms"} <= set(
            event
        )
        # SPEC §12.5: who called, with what, how much each way.
        assert {"remote", "user_agent", "bytes_in", "bytes_out"} <= set(event)
        assert event["level"] == "info"
        assert event["timestamp"].endswith("Z")
    assert miss["client"] == "reader"
    assert miss["cache"] == "MISS"
    assert "upstream_ms" in miss
    assert hit["cache"] == "HIT"
    assert "upstream_ms" not in hit
    assert miss["path"] == f"{SEGMENTS}/5"
    assert miss["route"] == f"{SEGMENTS}/{{id}}"  # SPEC §8.8: the template beside the path
    assert health["route"] == "/healthz"
    assert miss["method"] == "GET"
    assert miss["status"] == 200
    assert health["client"] == "-"


async def test_unexpected_error_is_generic_500(
    aiohttp_client: AiohttpClient, log_output: io.StringIO
) -> None:
    """An unexpected exception becomes a bare 500 JSON Error; its details stay in the log."""

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("internal detail /srv/secret/path")

    app = web.Application(middlewares=[request_id_middleware, error_middleware])
    app.on_response_prepare.append(stamp_response)
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/broken")
    assert response.status == 500
    body = await response.json()
    assert body == {"error": {"status": 500, "message": "internal error", "parameter": ""}}
    assert "internal detail" in log_output.getvalue()
    assert response.headers["X-Request-ID"]


async def test_no_secret_in_logs_or_answers(
    make_gateway: MakeGateway,
    simulator: Simulator,
    clock: FakeClock,
    log_output: io.StringIO,
) -> None:
    """Logins, expiries, re-logins and failures log no client key, password or upstream token."""
    gateway = await make_gateway(logging={"level": "debug"})
    bodies: list[str] = []

    async def call(method: str, path: str, **kwargs: Any) -> None:
        response = await gateway.request(method, path, **kwargs)
        bodies.append(await response.text())
        bodies.append(json.dumps(dict(response.headers)))

    basic = {hdrs.AUTHORIZATION: basic_auth_header("writer", KEYS["writer"])}
    await call("POST", LOGIN, headers=basic)
    session_token = bodies[0]
    for name, key in KEYS.items():
        await call("GET", f"{SEGMENTS}/1", headers={"X-API-Key": key})
        await call("GET", f"{SEGMENTS}/2", headers={hdrs.AUTHORIZATION: f"Bearer {key}"})
        await call("GET", f"{SEGMENTS}/3", headers={"auth_token": key})
        await call(
            "GET", f"{SEGMENTS}/4", headers={hdrs.AUTHORIZATION: basic_auth_header(name, key)}
        )
    await call("GET", f"{SEGMENTS}/5", headers={"auth_token": session_token})
    simulator.expire_all_tokens()
    await call("GET", f"{SEGMENTS}/6", headers=key_header())
    simulator.fault = Fault.UNAUTHORIZED
    await call("GET", f"{SEGMENTS}/7", headers=key_header())
    simulator.fault = None
    simulator.reject_logins = True
    simulator.expire_all_tokens()
    await call("GET", f"{SEGMENTS}/8", headers=key_header())
    await call("GET", "/readyz")
    await call("GET", f"{SEGMENTS}/9", headers={"X-API-Key": "olcg_wrong_key_value"})
    await call("PUT", f"{SEGMENTS}/1/metadata", data=b"{bad", headers=key_header("writer"))
    clock.advance(4000)
    await call("GET", f"{SEGMENTS}/1", headers={"auth_token": session_token})
    await asyncio.sleep(0)

    logs = log_output.getvalue()
    assert [e["event"] for e in events(log_output)].count("upstream_login") >= 2
    secrets = [*KEYS.values(), "olcg_wrong_key_value", "secret", session_token]
    secrets += simulator.issued_tokens()
    assert len(simulator.issued_tokens()) >= 2
    for secret in secrets:
        assert secret not in logs
    answers = "\n".join(bodies[1:])
    for secret in [*KEYS.values(), "secret", *simulator.issued_tokens()]:
        assert secret not in answers


async def test_access_log_names_the_client_of_a_successful_login(
    gateway: TestClient[Any, Any], log_output: io.StringIO
) -> None:
    """The login route is public, yet its access line names the client that logged in."""
    headers = {hdrs.AUTHORIZATION: basic_auth_header("writer", KEYS["writer"])}
    async with gateway.post(LOGIN, headers=headers) as response:
        assert response.status == 200
        token = await response.text()
    async with gateway.post(LOGIN, headers={hdrs.AUTHORIZATION: "Basic Zm9vOmJhcg=="}) as response:
        assert response.status in (401, 403)
    ok, refused = [event for event in requests_logged(log_output) if event["path"] == LOGIN]
    assert (ok["status"], ok["client"]) == (200, "writer")
    assert refused["client"] == "-"
    assert token not in log_output.getvalue()
    assert KEYS["writer"] not in log_output.getvalue()
