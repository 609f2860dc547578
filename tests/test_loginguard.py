"""The login route against guessing: failures per name and per address, 429 + Retry-After,
the failure metric; in-process on a fake clock, and from distinct loopback addresses."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeConfig, MakeGateway, basic_auth_header, key_header

from gateway.access.loginguard import LIMIT, WINDOW, FailureLog
from gateway.config.model import key_digest
from gateway.state import METRICS

LOGIN = "/rest/serverengine/authentication/login"
SEGMENTS = "/rest/serverengine/entity/jobsegments"
WRONG = "olcg_wrong_guess_0123456789abcdef"
Client = TestClient[Any, Any]


async def test_failure_log_blocks_at_the_limit_until_the_window_passes(clock: FakeClock) -> None:
    """Nine failures do not block an address; the tenth does, until the first leaves the minute."""
    failures = FailureLog(limit=10, window=60, clock=clock)
    for _ in range(9):
        await failures.record("addr:a", None)
        clock.advance(1)
    assert await failures.blocked("addr:a", None) == 0
    await failures.record("addr:a", None)
    assert await failures.blocked("addr:a", None) == pytest.approx(51)  # first failure + 60 s
    assert await failures.blocked("addr:b", None) == 0
    clock.advance(51)
    assert await failures.blocked("addr:a", None) == 0


async def test_failure_log_locks_a_name_everywhere_only_from_three_addresses(
    clock: FakeClock,
) -> None:
    """Ten failures at a name from two addresses lock those addresses, not the name; from
    three addresses they lock the name for every address, until the window passes."""
    failures = FailureLog(limit=10, window=60, clock=clock)
    for _ in range(9):
        await failures.record("addr:a", "name:n")
    await failures.record("addr:b", "name:n")
    assert await failures.blocked("addr:c", "name:n") == 0
    assert await failures.blocked("addr:b", "name:n") == 0
    await failures.record("addr:a", "name:n")
    assert await failures.blocked("addr:a", "name:other") > 0  # ten from a: a is locked
    assert await failures.blocked("addr:c", "name:n") == 0
    await failures.record("addr:c", "name:n")  # the last ten now come from three addresses
    assert await failures.blocked("addr:d", "name:n") > 0
    assert await failures.blocked("addr:d", "name:other") == 0
    clock.advance(60)
    assert await failures.blocked("addr:d", "name:n") == 0


async def test_failure_log_remembers_a_bounded_number_of_keys(clock: FakeClock) -> None:
    """A flood of distinct addresses keeps at most max_keys records."""
    failures = FailureLog(limit=2, window=60, clock=clock, max_keys=100)
    for i in range(1000):
        await failures.record(f"addr:{i}", None)
        await failures.record(f"addr:{i}", None)
    assert await failures.blocked("addr:999", None) > 0
    assert await failures.blocked("addr:0", None) == 0  # pushed out


def session_from(address: str) -> Callable[[Client], aiohttp.ClientSession]:
    """A client session whose connections come from `address` (any of 127/8 is loopback)."""

    def make(gateway: Client) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            str(gateway.make_url("")),
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
        )

    return make


async def login(session: Any, name: str, key: str) -> tuple[int, dict[str, str]]:
    async with session.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header(name, key)}
    ) as response:
        await response.read()
        return response.status, dict(response.headers)


def failures(gateway: Client, reason: str) -> float:
    registry = gateway.app[METRICS].registry
    return registry.get_sample_value("olcg_login_failures_total", {"reason": reason}) or 0.0


async def test_login_blocked_after_ten_failures_even_with_the_right_key(
    make_gateway: MakeGateway, log_output: io.StringIO, clock: FakeClock
) -> None:
    """Ten wrong keys for a name: the right key gets 429 + Retry-After until the minute is
    over; API keys on data routes are not affected; the key never reaches the log."""
    gateway = await make_gateway()
    for _ in range(LIMIT):
        assert (await login(gateway, "reader", WRONG))[0] == 401
    status, headers = await login(gateway, "reader", KEYS["reader"])
    assert status == 429
    assert 1 <= int(headers[hdrs.RETRY_AFTER]) <= WINDOW
    async with gateway.get(SEGMENTS, headers=key_header("reader")) as response:
        assert response.status == 200
    clock.advance(WINDOW)
    assert (await login(gateway, "reader", KEYS["reader"]))[0] == 200
    assert (failures(gateway, "wrong_key"), failures(gateway, "blocked")) == (LIMIT, 1)
    logged = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert [e["reason"] for e in logged if e["event"] == "login_failed"] == ["wrong_key"] * LIMIT
    assert WRONG not in log_output.getvalue()
    assert KEYS["reader"] not in log_output.getvalue()


async def test_one_address_cannot_lock_a_name_out_for_every_address(
    make_gateway: MakeGateway,
) -> None:
    """Guesses at one name from one address block that address for every name, and not the
    name: the client logs in from its own address (F9)."""
    gateway = await make_gateway()
    async with session_from("127.0.0.2")(gateway) as guesser:
        for _ in range(LIMIT):
            assert (await login(guesser, "reader", WRONG))[0] == 401
        assert (await login(guesser, "reader", KEYS["reader"]))[0] == 429  # address blocked
        assert (await login(guesser, "writer", KEYS["writer"]))[0] == 429
    async with session_from("127.0.0.3")(gateway) as owner:
        assert (await login(owner, "reader", KEYS["reader"]))[0] == 200
        assert (await login(owner, "writer", KEYS["writer"]))[0] == 200


async def test_guesses_from_three_addresses_lock_the_name_everywhere(
    make_gateway: MakeGateway,
) -> None:
    """SPEC §9: a name whose failures came from at least three addresses is locked for every
    address; other names stay open."""
    gateway = await make_gateway()
    for i in range(LIMIT):
        async with session_from(f"127.0.0.{2 + i % 3}")(gateway) as guesser:
            assert (await login(guesser, "reader", WRONG))[0] == 401
    async with session_from("127.0.0.9")(gateway) as owner:
        status, headers = await login(owner, "reader", KEYS["reader"])
        assert status == 429
        assert 1 <= int(headers[hdrs.RETRY_AFTER]) <= WINDOW
        assert (await login(owner, "writer", KEYS["writer"]))[0] == 200


async def test_login_unknown_names_count_against_the_address(make_gateway: MakeGateway) -> None:
    """Spraying ten invented names from one address blocks the address."""
    gateway = await make_gateway()
    for i in range(LIMIT):
        assert (await login(gateway, f"nobody{i}", WRONG))[0] == 401
    assert (await login(gateway, "writer", KEYS["writer"]))[0] == 429
    assert failures(gateway, "unknown_client") == LIMIT


async def test_login_without_credentials_never_blocks(gateway: Client) -> None:
    """A missing Basic header (a challenge's first step) is counted but does not block."""
    for _ in range(3 * LIMIT):
        async with gateway.post(LOGIN) as response:
            assert response.status == 401
    assert (await login(gateway, "reader", KEYS["reader"]))[0] == 200
    assert failures(gateway, "missing") == 3 * LIMIT


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [("Basic !!!not-base64", "malformed"), (basic_auth_header("reader", WRONG), "wrong_key")],
)
async def test_login_failure_reasons_are_counted(
    gateway: Client, authorization: str, reason: str
) -> None:
    """Each failed login (401 at the login route, SPEC §5) is counted once under its reason;
    the series exist from the start."""
    assert failures(gateway, reason) == 0
    async with gateway.post(LOGIN, headers={hdrs.AUTHORIZATION: authorization}) as response:
        assert response.status == 401
    assert failures(gateway, reason) == 1


async def test_login_expired_client_is_counted_as_expired(
    make_gateway: MakeGateway, make_config: MakeConfig
) -> None:
    """A client past its expires_at fails with reason=expired."""
    config = make_config(
        clients=[
            {
                "name": "old",
                "key_sha256": key_digest(WRONG),
                "expires_at": "2020-01-01T00:00:00Z",
            }
        ]
    )
    gateway = await make_gateway(config)
    assert (await login(gateway, "old", WRONG))[0] == 401
    assert failures(gateway, "expired") == 1
