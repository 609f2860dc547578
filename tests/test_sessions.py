"""Signed session tokens: round trip, expiry on the wall clock, forgery and tampering,
the binding to the key that obtained them (in-process and by SIGHUP to a `serve` child)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import signal
from typing import Any

import aiohttp
import pytest
from aiohttp import hdrs
from conftest import KEYS, WALL_START, FakeClock, MakeGateway, basic_auth_header, client_entries
from processes import (
    StartGateway,
    poll,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401 - *_fixture: imported so pytest finds them here
)

from gateway.access.sessions import SESSION_PREFIX, Session, SessionTokens, new_secret
from gateway.config.load import ConfigError, parse_config
from gateway.config.model import ClientConfig, Config, key_digest
from gateway.errors import Forbidden, Unauthenticated
from gateway.state import AUTHENTICATOR

DIGEST = "ab" * 32
OTHER_DIGEST = "cd" * 32
SEGMENTS = "/rest/serverengine/entity/jobsegments"
LOGIN = "/rest/serverengine/authentication/login"
NEW_KEY = "olcg_test_rotated_0123456789abcdef"


def test_sessions_round_trip_names_the_client() -> None:
    """A fresh token verifies to the client it was issued to."""
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=FakeClock(WALL_START))
    token = tokens.issue("billing", DIGEST)
    assert token.startswith(SESSION_PREFIX)
    assert tokens.verify(token) == Session("billing", tokens.binding(DIGEST))


def test_sessions_tokens_differ_each_time() -> None:
    """Two logins of one client get different tokens (a random nonce)."""
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=FakeClock(WALL_START))
    assert tokens.issue("billing", DIGEST) != tokens.issue("billing", DIGEST)


def test_sessions_expire_after_ttl() -> None:
    """A token is refused with Unauthenticated (401) once its ttl has passed."""
    clock = FakeClock(WALL_START)
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=clock)
    token = tokens.issue("billing", DIGEST)
    clock.advance(59)
    assert tokens.verify(token) == Session("billing", tokens.binding(DIGEST))
    clock.advance(1)
    with pytest.raises(Unauthenticated) as expired:
        tokens.verify(token)
    assert expired.value.headers == {"WWW-Authenticate": "BASIC"}  # log in again


def test_sessions_other_secret_is_forbidden() -> None:
    """A token signed with another secret is refused with Forbidden (403)."""
    clock = FakeClock(WALL_START)
    token = SessionTokens(new_secret(), ttl=60, wall_clock=clock).issue("billing", DIGEST)
    with pytest.raises(Forbidden):
        SessionTokens(new_secret(), ttl=60, wall_clock=clock).verify(token)


def test_sessions_same_secret_is_accepted_elsewhere() -> None:
    """Another instance with the same secret accepts the token (workers, replicas)."""
    clock = FakeClock(WALL_START)
    secret = new_secret()
    token = SessionTokens(secret, ttl=60, wall_clock=clock).issue("billing", DIGEST)
    assert SessionTokens(secret, ttl=60, wall_clock=clock).verify(token).client_name == "billing"


def _renamed(token: str, name: str) -> str:
    """The token with another client name in its payload and the old signature."""
    body, _, signature = token.removeprefix(SESSION_PREFIX).partition(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    forged = name + payload[payload.index(":") :]
    new_body = base64.urlsafe_b64encode(forged.encode()).rstrip(b"=").decode()
    return f"{SESSION_PREFIX}{new_body}.{signature}"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: _renamed(t, "admin"),
        lambda t: SESSION_PREFIX + "YWRtaW46OTk5OTk5OTk5OTk6eA.c2ln",  # admin:99999999999:x
        lambda t: t + "=",
        lambda t: t[:-1],
        lambda t: t.split(".")[0] + ".",
        lambda _t: SESSION_PREFIX,
    ],
    ids=["renamed", "self-made", "padding", "truncated", "no-signature", "empty"],
)
def test_sessions_forged_or_altered_tokens_are_forbidden(forge: object) -> None:
    """Any token not exactly as issued is refused with Forbidden."""
    clock = FakeClock(WALL_START)
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=clock)
    token = tokens.issue("billing", DIGEST)
    with pytest.raises(Forbidden):
        tokens.verify(forge(token))  # type: ignore[operator]


def _payload(token: str) -> bytes:
    body = token.removeprefix(SESSION_PREFIX).partition(".")[0]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_sessions_binding_differs_per_key_and_hides_the_digest() -> None:
    """The binding names the key digest without holding it: other digest, other binding."""
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=FakeClock(WALL_START))
    token = tokens.issue("billing", DIGEST)
    assert tokens.binding(DIGEST) != tokens.binding(OTHER_DIGEST)
    assert DIGEST.encode() not in _payload(token)
    assert tokens.binding(DIGEST) not in DIGEST
    assert len(tokens.binding(DIGEST)) == 12  # 9 bytes of base64url


def test_sessions_unbound_token_of_the_same_secret_is_forbidden() -> None:
    """A token signed with the secret but without a key binding (the old format) is refused."""
    secret = new_secret()
    payload = f"billing:{int(WALL_START) + 60}:00ff".encode()
    signature = hmac.new(secret, payload, hashlib.sha256).digest()
    token = SESSION_PREFIX + ".".join(
        base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (payload, signature)
    )
    with pytest.raises(Forbidden):
        SessionTokens(secret, ttl=60, wall_clock=FakeClock(WALL_START)).verify(token)


@pytest.mark.parametrize(("ttl", "valid"), [(604800, True), (604801, False), (30 * 86400, False)])
def test_sessions_ttl_over_a_week_is_a_config_error(ttl: int, valid: bool) -> None:
    """server.session_ttl is at most 7 days; above, the error names the key."""
    text = f"""
server: {{session_ttl: {ttl}}}
upstream: {{url: "http://127.0.0.1:9340", username: u, password: p}}
clients: [{{name: a, key_sha256: "{DIGEST}"}}]
"""
    if valid:
        assert parse_config(text, {}).server.session_ttl == ttl
        return
    with pytest.raises(ConfigError) as error:
        parse_config(text, {})
    assert error.value.problems == ["server.session_ttl: must be less than or equal to 604800"]


# --- bound to the key, through the gateway ---------------------------------------------------


def _rekeyed(name: str, *digests: str) -> list[dict[str, Any]]:
    """The test clients with `name` holding exactly `digests`."""
    return [
        {**entry, "key_sha256": list(digests)} if entry["name"] == name else entry
        for entry in client_entries()
    ]


async def _login(gateway: Any, name: str, key: str) -> str:
    async with gateway.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header(name, key)}
    ) as response:
        assert response.status == 200
        return str(await response.text())


async def _status(
    gateway: Any, token: str, method: str = hdrs.METH_GET, path: str = SEGMENTS
) -> int:
    async with gateway.request(method, path, headers={"auth_token": token}) as response:
        await response.read()
        return int(response.status)


async def test_session_ends_when_its_key_is_rotated_out(make_gateway: MakeGateway) -> None:
    """Overlap keeps the token; dropping the key that obtained it ends it (403)."""
    gateway = await make_gateway()
    authenticator = gateway.app[AUTHENTICATOR]
    token = await _login(gateway, "reader", KEYS["reader"])
    old, new = key_digest(KEYS["reader"]), key_digest(NEW_KEY)
    authenticator.replace_clients(parse_clients(_rekeyed("reader", old, new)))
    assert await _status(gateway, token) == 200
    authenticator.replace_clients(parse_clients(_rekeyed("reader", new)))
    assert await _status(gateway, token) == 403
    authenticator.replace_clients(parse_clients(_rekeyed("reader", new, old)))
    assert await _status(gateway, token) == 200  # the key is back: so is its token


async def test_session_ends_with_its_client_and_a_new_client_of_that_name_does_not_revive_it(
    make_gateway: MakeGateway,
) -> None:
    """Remove the client: 403; re-add the same name with another key: still 403."""
    gateway = await make_gateway()
    authenticator = gateway.app[AUTHENTICATOR]
    token = await _login(gateway, "reader", KEYS["reader"])
    others = [entry for entry in client_entries() if entry["name"] != "reader"]
    authenticator.replace_clients(parse_clients(others))
    assert await _status(gateway, token) == 403
    authenticator.replace_clients(parse_clients(_rekeyed("reader", key_digest(NEW_KEY))))
    assert await _status(gateway, token) == 403
    assert await _status(gateway, await _login(gateway, "reader", NEW_KEY)) == 200


async def test_session_expired_is_401_with_a_basic_challenge(
    make_gateway: MakeGateway, wall_clock: FakeClock
) -> None:
    """An expired session token's 401 carries WWW-Authenticate: BASIC, as a missing key's does."""
    gateway = await make_gateway(server={"session_ttl": 30})
    token = await _login(gateway, "reader", KEYS["reader"])
    wall_clock.advance(31)
    async with gateway.get(SEGMENTS, headers={"auth_token": token}) as response:
        assert response.status == 401
        assert response.headers[hdrs.WWW_AUTHENTICATE] == "BASIC"
        assert (await response.json())["error"]["message"] == "session token expired"


def parse_clients(entries: list[dict[str, Any]]) -> tuple[ClientConfig, ...]:
    """Validated `clients:` for `Authenticator.replace_clients`, as a reload makes them."""
    upstream = {"url": "http://127.0.0.1:1", "username": "u", "password": "p"}
    return Config.model_validate({"upstream": upstream, "clients": entries}).clients


async def test_sighup_rotation_ends_an_admin_session_in_a_serve_child(
    start_gateway: StartGateway,
) -> None:
    """The finding, end to end: login with key A, rotate to key B + SIGHUP: the token that
    purged the cache with 204 gets 403, on reads and on DELETE /admin/cache."""
    gateway = await start_gateway()
    async with aiohttp.ClientSession(gateway.url) as session:
        token = await _login(session, "admin", KEYS["admin"])
        assert await _status(session, token, hdrs.METH_DELETE, "/admin/cache") == 204
        gateway.rewrite_config(clients=_rekeyed("admin", key_digest(NEW_KEY)))
        gateway.child.send(signal.SIGHUP)

        async def refused() -> bool | None:
            return True if await _status(session, token) == 403 else None

        await poll(refused, 5, "the rotated-out token to be refused")
        assert await _status(session, token, hdrs.METH_DELETE, "/admin/cache") == 403
        assert await _status(session, await _login(session, "admin", NEW_KEY)) == 200
