"""Signed session tokens: round trip, expiry on the wall clock, forgery and tampering."""

from __future__ import annotations

import base64

import pytest
from conftest import WALL_START, FakeClock

from gateway.errors import Forbidden, Unauthenticated
from gateway.sessions import SESSION_PREFIX, SessionTokens, new_secret


def test_sessions_round_trip_names_the_client() -> None:
    """A fresh token verifies to the client it was issued to."""
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=FakeClock(WALL_START))
    token = tokens.issue("billing")
    assert token.startswith(SESSION_PREFIX)
    assert tokens.verify(token) == "billing"


def test_sessions_tokens_differ_each_time() -> None:
    """Two logins of one client get different tokens (a random nonce)."""
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=FakeClock(WALL_START))
    assert tokens.issue("billing") != tokens.issue("billing")


def test_sessions_expire_after_ttl() -> None:
    """A token is refused with Unauthenticated (401) once its ttl has passed."""
    clock = FakeClock(WALL_START)
    tokens = SessionTokens(new_secret(), ttl=60, wall_clock=clock)
    token = tokens.issue("billing")
    clock.advance(59)
    assert tokens.verify(token) == "billing"
    clock.advance(1)
    with pytest.raises(Unauthenticated):
        tokens.verify(token)


def test_sessions_other_secret_is_forbidden() -> None:
    """A token signed with another secret is refused with Forbidden (403)."""
    clock = FakeClock(WALL_START)
    token = SessionTokens(new_secret(), ttl=60, wall_clock=clock).issue("billing")
    with pytest.raises(Forbidden):
        SessionTokens(new_secret(), ttl=60, wall_clock=clock).verify(token)


def test_sessions_same_secret_is_accepted_elsewhere() -> None:
    """Another instance with the same secret accepts the token (workers, replicas)."""
    clock = FakeClock(WALL_START)
    secret = new_secret()
    token = SessionTokens(secret, ttl=60, wall_clock=clock).issue("billing")
    assert SessionTokens(secret, ttl=60, wall_clock=clock).verify(token) == "billing"


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
    token = tokens.issue("billing")
    with pytest.raises(Forbidden):
        tokens.verify(forge(token))  # type: ignore[operator]
