"""The access line an operator can act on (SPEC §12.5): address, user agent, byte counts,
why a 401/403/429 was refused; X-Forwarded-For only from trusted proxies; 429s that say
when (SPEC §12.7); per-request warnings rate-limited per cause."""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import (
    KEYS,
    FakeClock,
    MakeGateway,
    basic_auth_header,
    client_entries,
    key_header,
)

from gateway.access.loginguard import LIMIT, WINDOW
from gateway.access.ratelimit import rate_policy
from gateway.config.model import ClientConfig, key_digest
from gateway.edge.middlewares import user_agent
from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault
from gateway.state import AUTHENTICATOR
from gateway.telemetry.throttle import DEFAULT_INTERVAL

SEGMENTS = "/rest/serverengine/entity/jobsegments"
LOGIN = "/rest/serverengine/authentication/login"
UNKNOWN_KEY = "olcg_nobody_has_this_key_0123456789"
Client = TestClient[Any, Any]


def events(log_output: io.StringIO, event: str = "request") -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    return [line for line in lines if line["event"] == event]


async def test_access_line_carries_address_user_agent_and_byte_counts(
    gateway: Client, log_output: io.StringIO
) -> None:
    """A read logs the body bytes it answered; a write the body bytes it received; both the
    peer's address and the user agent."""
    async with gateway.get(
        f"{SEGMENTS}/7", headers={**key_header(), "User-Agent": "billing/1.2"}
    ) as response:
        read_body = await response.read()
    body = json.dumps({"id": 7, "properties": [{"name": "a", "value": "b"}]}).encode()
    async with gateway.put(
        f"{SEGMENTS}/7/metadata",
        data=body,
        headers={**key_header("writer"), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        write_answer = await response.read()
    read, write = events(log_output)
    assert (read["remote"], read["user_agent"]) == ("127.0.0.1", "billing/1.2")
    assert (read["bytes_in"], read["bytes_out"]) == (0, len(read_body))
    assert (write["bytes_in"], write["bytes_out"]) == (len(body), len(write_answer))
    assert write["user_agent"].startswith("Python/")  # aiohttp's own
    assert "reason" not in read


async def test_access_line_counts_a_streamed_download(
    gateway: Client, log_output: io.StringIO
) -> None:
    """A forwarded upload and its download are counted as they stream."""
    payload = b"x" * 300_000
    headers = key_header("admin")
    async with gateway.post(
        "/rest/serverengine/filestore/DataFile?filename=a.csv&persistent=false",
        data=payload,
        headers=headers,
    ) as response:
        file_id = (await response.text()).strip()
    async with gateway.get(
        f"/rest/serverengine/filestore/file/{file_id}", headers=headers
    ) as response:
        assert await response.read() == payload
    upload, download = events(log_output)
    assert upload["bytes_in"] == len(payload)
    assert download["bytes_out"] == len(payload)


def test_access_line_user_agent_is_truncated_and_sanitised() -> None:
    """At most 200 characters, control and other unprintable characters replaced."""
    assert user_agent("curl/8.5.0") == "curl/8.5.0"
    assert user_agent("a" * 500) == "a" * 200
    assert user_agent("evil\x1b[31m\r\nx\u2028y") == "evil?[31m??x?y"


def expired_clients() -> list[dict[str, Any]]:
    """The test clients, with `writer` past its expires_at (the fake wall clock's now)."""
    entries = client_entries()
    for entry in entries:
        if entry["name"] == "writer":
            entry["expires_at"] = "2020-01-01T00:00:00Z"
    return entries


REFUSALS: dict[str, tuple[dict[str, str], int, str, str]] = {
    "none": ({}, 401, "no_credential", "-"),
    "unknown-key": ({"X-API-Key": UNKNOWN_KEY}, 403, "unknown_client", "-"),
    "known-name-wrong-key": (
        {hdrs.AUTHORIZATION: basic_auth_header("reader", UNKNOWN_KEY)},
        403,
        "wrong_key",
        "reader",
    ),
    "known-name-other-clients-key": (
        {hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["admin"])},
        403,
        "wrong_key",
        "reader",
    ),
    "unknown-name": (
        {hdrs.AUTHORIZATION: basic_auth_header("olcg_typed_key_here", KEYS["reader"])},
        403,
        "unknown_client",
        "-",
    ),
    "malformed-basic": ({hdrs.AUTHORIZATION: "Basic !!!"}, 403, "malformed_credential", "-"),
    "expired": (key_header("writer"), 403, "expired", "writer"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_access_line_says_why_a_credential_was_refused(
    make_gateway: MakeGateway, log_output: io.StringIO, case: str
) -> None:
    """Each refusal's reason and, when a configured client was named or proved, its name;
    the client's answer is unchanged (an unknown client and a wrong key read the same)."""
    headers, status, reason, client = REFUSALS[case]
    gateway = await make_gateway(clients=expired_clients())
    async with gateway.get(f"{SEGMENTS}/7", headers=headers) as response:
        assert response.status == status
        message = (await response.json())["error"]["message"]
    if reason in ("unknown_client", "wrong_key", "malformed_credential"):
        assert message == "invalid credentials"
    [line] = events(log_output)
    assert (line["status"], line["reason"], line["client"]) == (status, reason, client)
    assert "olcg_typed_key_here" not in log_output.getvalue()
    for key in KEYS.values():
        assert key not in log_output.getvalue()


async def test_access_line_names_the_missing_scope(
    gateway: Client, log_output: io.StringIO
) -> None:
    """A known client without the route's scope: reason missing_scope:<scope>, its name."""
    async with gateway.put(f"{SEGMENTS}/7/metadata", json={}, headers=key_header()) as response:
        assert response.status == 403
    [line] = events(log_output)
    assert (line["reason"], line["client"]) == ("missing_scope:write", "reader")


async def test_access_line_a_rotated_key_behind_a_session_is_wrong_key(
    gateway: Client, log_output: io.StringIO
) -> None:
    """A session token whose key was rotated out names its client as still using it."""
    async with gateway.post(
        LOGIN, headers={hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
    ) as response:
        token = await response.text()
    entries = client_entries()
    entries[0]["key_sha256"] = key_digest("olcg_the_new_reader_key_0123456789")
    gateway.app[AUTHENTICATOR].replace_clients(
        [ClientConfig.model_validate(entry) for entry in entries]
    )
    async with gateway.get(f"{SEGMENTS}/7", headers={"auth_token": token}) as response:
        assert response.status == 403
    line = events(log_output)[-1]
    assert (line["reason"], line["client"]) == ("wrong_key", "reader")


def session_from(gateway: Client, address: str) -> aiohttp.ClientSession:
    """Connections from `address` (any of 127/8 is loopback)."""
    return aiohttp.ClientSession(
        str(gateway.make_url("")), connector=aiohttp.TCPConnector(local_addr=(address, 0))
    )


FORWARDED = {
    # (trusted_proxies, peer, X-Forwarded-For) -> the address logged
    "untrusted-peer-ignored": ([], "127.0.0.1", "203.0.113.9", "127.0.0.1"),
    "other-peer-ignored": (["127.0.0.2"], "127.0.0.1", "203.0.113.9", "127.0.0.1"),
    "trusted-peer": (["127.0.0.1"], "127.0.0.1", "203.0.113.9", "203.0.113.9"),
    "right-most-untrusted": (["127.0.0.1"], "127.0.0.1", "198.51.100.1, 10.1.1.1", "10.1.1.1"),
    "proxy-chain": (
        ["127.0.0.0/8", "10.0.0.0/8"],
        "127.0.0.1",
        "198.51.100.1, 10.1.1.1",
        "198.51.100.1",
    ),
    "garbage-stops": (["127.0.0.1"], "127.0.0.1", "203.0.113.9, nonsense", "127.0.0.1"),
}


@pytest.mark.parametrize("case", list(FORWARDED))
async def test_access_line_remote_believes_only_trusted_proxies(
    make_gateway: MakeGateway, log_output: io.StringIO, case: str
) -> None:
    """X-Forwarded-For is ignored unless the peer is a trusted proxy; then the right-most
    address no trusted proxy added is the client's."""
    trusted, peer, forwarded, expected = FORWARDED[case]
    gateway = await make_gateway(server={"trusted_proxies": trusted})
    async with (
        session_from(gateway, peer) as session,
        session.get("/healthz", headers={"X-Forwarded-For": forwarded}) as response,
    ):
        assert response.status == 200
    [line] = events(log_output)
    assert line["remote"] == expected


@pytest.mark.parametrize(("trusted", "b_blocked"), [([], True), (["127.0.0.1"], False)])
async def test_login_guard_counts_the_forwarded_address_of_a_trusted_proxy(
    make_gateway: MakeGateway, trusted: list[str], b_blocked: bool
) -> None:
    """Behind a trusted proxy, one guesser's failures block its own address, not every
    client the proxy carries; without the setting, the header is not believed."""
    gateway = await make_gateway(server={"trusted_proxies": trusted})
    wrong: dict[str, str] = {hdrs.AUTHORIZATION: basic_auth_header("reader", UNKNOWN_KEY)}
    for _ in range(LIMIT):
        async with gateway.post(LOGIN, headers={**wrong, "X-Forwarded-For": "203.0.113.1"}) as r:
            assert r.status == 401
    right: dict[str, str] = {hdrs.AUTHORIZATION: basic_auth_header("admin", KEYS["admin"])}
    async with gateway.post(LOGIN, headers={**right, "X-Forwarded-For": "203.0.113.1"}) as r:
        assert r.status == 429
    async with gateway.post(LOGIN, headers={**right, "X-Forwarded-For": "203.0.113.2"}) as r:
        assert r.status == (429 if b_blocked else 200)


@pytest.mark.parametrize(("rate", "policy"), [(50, (50, 1)), (0.5, (1, 2)), (2.5, (5, 2))])
def test_rate_policy_is_whole_requests_per_whole_seconds(
    rate: float, policy: tuple[int, int]
) -> None:
    """RateLimit-Policy's q and w are integers: a fractional rate becomes a longer window."""
    assert rate_policy(rate) == policy


async def test_429_says_when_in_retry_after_and_ratelimit_fields(
    gateway: Client, clock: FakeClock, log_output: io.StringIO
) -> None:
    """A client over its rate_limit (5/s) gets Retry-After and the IETF draft's
    RateLimit-Policy and RateLimit fields; its access line says rate_limited, and one
    `client_rate_limited` warning stands for the burst, counting the rest when it repeats."""
    statuses = []
    for _ in range(14):
        async with gateway.get(f"{SEGMENTS}/7", headers=key_header("limited")) as response:
            statuses.append(response.status)
            headers = response.headers
    assert statuses.count(429) == 4
    assert headers[hdrs.RETRY_AFTER] == "1"
    assert headers["RateLimit-Policy"] == '"default";q=5;w=1'
    assert headers["RateLimit"] == '"default";r=0;t=1'
    assert events(log_output)[-1]["reason"] == "rate_limited"
    [warning] = events(log_output, "client_rate_limited")
    assert (warning["client"], warning["suppressed"]) == ("limited", 0)
    clock.advance(DEFAULT_INTERVAL)
    async with gateway.get(f"{SEGMENTS}/7", headers=key_header("limited")) as response:
        assert response.status == 200  # a minute refilled the bucket
    for _ in range(11):
        async with gateway.get(f"{SEGMENTS}/7", headers=key_header("limited")) as response:
            pass
    assert response.status == 429
    _, second = events(log_output, "client_rate_limited")
    assert second["suppressed"] == 3  # the first burst's other three refusals


async def test_blocked_login_429_carries_the_login_policy(
    gateway: Client, log_output: io.StringIO
) -> None:
    """A blocked login says `"login";q=10;w=60` and when it may try again; its access line
    says login_blocked, and one warning stands for a flood of blocked attempts."""
    wrong = {hdrs.AUTHORIZATION: basic_auth_header("reader", UNKNOWN_KEY)}
    for _ in range(LIMIT + 5):
        async with gateway.post(LOGIN, headers=wrong) as response:
            headers = response.headers
    assert response.status == 429
    assert headers["RateLimit-Policy"] == f'"login";q={LIMIT};w={int(WINDOW)}'
    assert headers["RateLimit"] == f'"login";r=0;t={headers[hdrs.RETRY_AFTER]}'
    assert events(log_output)[-1]["reason"] == "login_blocked"
    [blocked] = events(log_output, "login_blocked")
    assert blocked["remote"] == "127.0.0.1"
    assert len(events(log_output, "login_failed")) == LIMIT


async def test_stale_served_warning_once_per_cause_with_suppressed_count(
    make_gateway: MakeGateway,
    simulator: Simulator,
    clock: FakeClock,
    wall_clock: FakeClock,
    log_output: io.StringIO,
) -> None:
    """During an outage every stale answer would warn; one line per error class per
    minute does, the next one counting those left out."""
    gateway = await make_gateway()
    for n in range(1, 6):
        async with gateway.get(f"{SEGMENTS}/{n}", headers=key_header()) as response:
            assert response.status == 200
    simulator.fault = Fault.STATUS_500
    wall_clock.advance(301)  # past document_sets' TTL, within stale_if_error
    for n in range(1, 6):
        async with gateway.get(f"{SEGMENTS}/{n}", headers=key_header()) as response:
            assert response.headers["X-Cache"] == "STALE"
    [first] = events(log_output, "cache_stale_served")
    assert (first["key"], first["suppressed"]) == (f"GET {SEGMENTS}/1", 0)
    clock.advance(DEFAULT_INTERVAL)
    async with gateway.get(f"{SEGMENTS}/1", headers=key_header()) as response:
        assert response.headers["X-Cache"] == "STALE"
    _, second = events(log_output, "cache_stale_served")
    assert second["suppressed"] == 4
