"""Client authentication through the gateway: credential forms, scopes, expiry, sessions."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient
from conftest import KEYS, WALL_START, FakeClock, MakeConfig, MakeGateway, basic_auth_header
from pytest_aiohttp import AiohttpServer

from gateway.access.clients import read_credential
from gateway.config.model import key_digest
from gateway.simulator import Simulator, create_simulator_app

SEGMENT = "/rest/serverengine/entity/jobsegments/7"
METADATA = SEGMENT + "/metadata"
LOGIN = "/rest/serverengine/authentication/login"


async def assert_error(response: Any, status: int) -> dict[str, Any]:
    """The response has `status` and an OL Connect JSON Error body; returns the error."""
    assert response.status == status
    body = await response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["parameter"], str)
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": KEYS["reader"]},
        {hdrs.AUTHORIZATION: f"Bearer {KEYS['reader']}"},
        {"auth_token": KEYS["reader"]},
        {hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])},
    ],
    ids=["x-api-key", "bearer", "auth_token", "basic"],
)
async def test_auth_accepts_every_credential_form(
    gateway: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    """Each of the four documented credential forms authenticates the client."""
    response = await gateway.get(SEGMENT, headers=headers)
    assert response.status == 200


async def test_auth_missing_key_is_401_with_challenge(gateway: TestClient[Any, Any]) -> None:
    """No credential at all answers 401 with a WWW-Authenticate header."""
    response = await gateway.get(SEGMENT)
    await assert_error(response, 401)
    assert hdrs.WWW_AUTHENTICATE in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "olcg_not_a_known_key"},
        {hdrs.AUTHORIZATION: "Bearer olcg_not_a_known_key"},
        {"auth_token": "olcg_not_a_known_key"},
        {hdrs.AUTHORIZATION: basic_auth_header("writer", KEYS["reader"])},
        {hdrs.AUTHORIZATION: basic_auth_header("reader", "wrong")},
        {hdrs.AUTHORIZATION: "Basic %%%not-base64"},
        {hdrs.AUTHORIZATION: "Basic " + base64.b64encode(b"no-colon").decode()},
        {"auth_token": "olcs_unknown_session_token"},
    ],
    ids=[
        "key",
        "bearer",
        "auth_token",
        "basic-wrong-name",
        "basic-wrong-key",
        "basic-garbled",
        "basic-no-colon",
        "unknown-session",
    ],
)
async def test_auth_unknown_credential_is_403(
    gateway: TestClient[Any, Any], simulator: Simulator, headers: dict[str, str]
) -> None:
    """A credential that matches no client answers 403 and never reaches the upstream."""
    response = await gateway.get(SEGMENT, headers=headers)
    await assert_error(response, 403)
    assert sum(simulator.calls.values()) == 0


@pytest.mark.parametrize(
    ("client", "method", "path", "status"),
    [
        ("reader", "PUT", METADATA, 403),
        ("reader", "DELETE", "/admin/cache", 403),
        ("writer", "DELETE", "/admin/cache/jobsegments/7", 403),
        ("admin", "DELETE", "/admin/cache", 204),
        ("admin", "DELETE", "/admin/cache/jobsegments/7", 204),
        ("writer", "GET", METADATA, 200),
    ],
)
async def test_auth_enforces_route_scopes(
    gateway: TestClient[Any, Any], client: str, method: str, path: str, status: int
) -> None:
    """A known key without the route's scope gets 403; with it, the route answers."""
    body = b'{"id": 7, "properties": []}' if method == "PUT" else None
    response = await gateway.request(method, path, data=body, headers={"X-API-Key": KEYS[client]})
    if status == 403:
        error = await assert_error(response, 403)
        assert "scope" in error["message"]
    else:
        assert response.status == status


async def test_auth_expired_key_is_403(
    make_gateway: MakeGateway, make_config: MakeConfig, wall_clock: FakeClock
) -> None:
    """A client's keys are refused with 403 "key expired" once its expires_at has passed."""
    expires = datetime.fromtimestamp(WALL_START + 60, UTC).isoformat()
    config = make_config(
        clients=[{"name": "temp", "key_sha256": key_digest("temp-key"), "expires_at": expires}]
    )
    gateway = await make_gateway(config)
    assert (await gateway.get(SEGMENT, headers={"X-API-Key": "temp-key"})).status == 200
    wall_clock.advance(61)
    error = await assert_error(await gateway.get(SEGMENT, headers={"X-API-Key": "temp-key"}), 403)
    assert error["message"] == "key expired"


async def test_auth_rotation_accepts_every_listed_digest(
    make_gateway: MakeGateway, make_config: MakeConfig
) -> None:
    """During a rotation both the old and the new key of a client work."""
    config = make_config(
        clients=[{"name": "rot", "key_sha256": [key_digest("old-key"), key_digest("new-key")]}]
    )
    gateway = await make_gateway(config)
    for key in ("old-key", "new-key"):
        assert (await gateway.get(SEGMENT, headers={"X-API-Key": key})).status == 200


async def test_login_issues_a_session_token(gateway: TestClient[Any, Any]) -> None:
    """Basic name:key at the login route returns a text/plain token and Token-Expires-In."""
    response = await gateway.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
    )
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert response.headers["Token-Expires-In"] == "3600"
    token = await response.text()
    assert token
    assert KEYS["reader"] not in token
    follow_up = await gateway.get(SEGMENT, headers={"auth_token": token})
    assert follow_up.status == 200


async def test_login_without_credentials_is_401(gateway: TestClient[Any, Any]) -> None:
    """The login route without Basic credentials answers 401 with a challenge."""
    response = await gateway.post(LOGIN)
    await assert_error(response, 401)
    assert response.headers[hdrs.WWW_AUTHENTICATE].upper().startswith("BASIC")


@pytest.mark.parametrize(
    ("name", "key"),
    [("reader", "nope"), ("nobody", KEYS["reader"]), ("writer", KEYS["reader"])],
)
async def test_login_with_wrong_credentials_is_401_without_challenge(
    gateway: TestClient[Any, Any], name: str, key: str
) -> None:
    """A wrong name or key at login is a 401 JSON Error without WWW-Authenticate (SPEC §5)."""
    response = await gateway.post(LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header(name, key)})
    await assert_error(response, 401)
    assert hdrs.WWW_AUTHENTICATE not in response.headers


async def test_session_token_expires_with_401(
    make_gateway: MakeGateway, wall_clock: FakeClock
) -> None:
    """A session token stops working after server.session_ttl with a 401 JSON Error."""
    gateway = await make_gateway(server={"session_ttl": 30})
    login = await gateway.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
    )
    assert login.headers["Token-Expires-In"] == "30"
    token = await login.text()
    wall_clock.advance(31)
    await assert_error(await gateway.get(SEGMENT, headers={"auth_token": token}), 401)


async def test_session_token_carries_the_clients_scopes(gateway: TestClient[Any, Any]) -> None:
    """A session token works like that client's key, scopes included."""
    login = await gateway.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
    )
    token = await login.text()
    response = await gateway.put(
        METADATA, data=b'{"id": 7, "properties": []}', headers={"auth_token": token}
    )
    await assert_error(response, 403)


async def test_client_credentials_never_reach_the_upstream(
    aiohttp_server: AiohttpServer,
    make_gateway: MakeGateway,
    make_config: MakeConfig,
    simulator: Simulator,
) -> None:
    """The upstream sees the gateway's own token, never the client's key or hop-by-hop headers."""
    seen: list[dict[str, str]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(dict(request.headers))
        response: web.StreamResponse = await handler(request)
        return response

    app = create_simulator_app(simulator)
    app.middlewares.append(record)
    server = await aiohttp_server(app)
    config = make_config(upstream={"url": str(server.make_url("")).rstrip("/")})
    gateway = await make_gateway(config)
    for headers in (
        {"X-API-Key": KEYS["writer"], "Connection": "keep-alive", "Proxy-Authorization": "x"},
        {hdrs.AUTHORIZATION: f"Bearer {KEYS['writer']}"},
        {hdrs.AUTHORIZATION: basic_auth_header("writer", KEYS["writer"])},
    ):
        response = await gateway.put(METADATA, data=b'{"id": 7, "properties": []}', headers=headers)
        assert response.status == 200
    data_requests = [h for h in seen if "auth_token" in h]
    assert len(data_requests) == 3
    for headers in data_requests:
        assert headers["auth_token"] in simulator.issued_tokens()
        assert "X-API-Key" not in headers
        assert "Proxy-Authorization" not in headers
        assert all(KEYS["writer"] not in value for value in headers.values())


async def test_session_token_works_on_every_app_sharing_the_secret(
    make_gateway: MakeGateway, make_config: MakeConfig
) -> None:
    """A token from one process is accepted by another with the same secret (workers,
    replicas), and refused by one with a different secret."""
    shared = "s" * 32
    first = await make_gateway(make_config(server={"session_secret": shared}))
    second = await make_gateway(make_config(server={"session_secret": shared}))
    stranger = await make_gateway(make_config(server={"session_secret": "t" * 32}))
    login = await first.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
    )
    token = await login.text()
    assert (await second.get(SEGMENT, headers={"auth_token": token})).status == 200
    await assert_error(await stranger.get(SEGMENT, headers={"auth_token": token}), 403)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.replace("olcs_", "olcs_x", 1),  # payload changed
        lambda t: t.split(".")[0],  # no signature
        lambda t: t + "!!",  # not base64
    ],
    ids=["signature", "payload", "unsigned", "garbage"],
)
async def test_session_token_tampered_is_403(gateway: TestClient[Any, Any], tamper: Any) -> None:
    """A session token that was altered in any way is refused with 403."""
    login = await gateway.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
    )
    token = tamper(await login.text())
    await assert_error(await gateway.get(SEGMENT, headers={"auth_token": token}), 403)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "olcg_secret_key_1"},
        {"Authorization": "Bearer olcg_secret_key_1"},
        {"Authorization": basic_auth_header("reader", "olcg_secret_key_1")},
        {"auth_token": "olcg_secret_key_1"},
    ],
)
def test_auth_credential_repr_hides_the_secret(headers: dict[str, str]) -> None:
    """A credential's repr (in a log line or a traceback) never shows the key."""
    credential = read_credential(headers)
    assert credential is not None
    assert credential.secret == "olcg_secret_key_1"
    assert "olcg_secret_key_1" not in repr(credential)


async def test_login_without_basic_credentials_says_so(gateway: TestClient[Any, Any]) -> None:
    """A login with no Basic credentials is a 401 that asks for them, with the challenge."""
    response = await gateway.post(LOGIN, headers={"X-API-Key": KEYS["reader"]})
    error = await assert_error(response, 401)
    assert error["message"] == "Basic credentials required"
    assert response.headers[hdrs.WWW_AUTHENTICATE].upper().startswith("BASIC")
