"""Logging set-up: JSON lines, redaction of credential-shaped fields, buffered writes."""

from __future__ import annotations

import asyncio
import io
import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway, MakeGatewayFor, MakeSimulator, key_header

from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault
from gateway.telemetry.access_line import log_request
from gateway.telemetry.context import (
    bind_process,
    bind_request,
    forget_process_context,
    start_request,
)
from gateway.telemetry.log import configure_logging
from gateway.telemetry.output import LineWriter
from gateway.telemetry.redaction import (
    MIN_SECRET_LENGTH,
    REDACTED,
    forget_secrets,
    register_secret,
)


class CountingStream(io.StringIO):
    """A text stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    forget_secrets()


def test_log_json_lines_carry_level_timestamp_and_context() -> None:
    """Each event is one JSON object with level, a UTC timestamp and bound context."""
    stream = io.StringIO()
    configure_logging("info", "json", stream, cache_loggers=False)
    structlog.contextvars.bind_contextvars(request_id="r-9")
    try:
        structlog.get_logger("t").info("something_happened", count=3)
        structlog.get_logger("t").debug("hidden_below_level")
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert event["event"] == "something_happened"
    assert event["count"] == 3
    assert event["request_id"] == "r-9"
    assert event["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["timestamp"])
    stamped = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - stamped).total_seconds()) < 60


@pytest.mark.parametrize(
    "field",
    [
        "password",
        "upstream_password",
        "token",
        "auth_token",
        "api_key",
        "X-API-Key",
        "authorization",
        "session_secret",
        "secret",
        "credential",
        "cookie",
    ],
)
def test_log_redacts_credential_shaped_fields(field: str) -> None:
    """A field whose name looks like a credential is replaced, whatever the caller passed."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)
    structlog.get_logger("t").warning("oops", **{field: "hunter2-value"})
    event = json.loads(stream.getvalue())
    assert event[field] == REDACTED
    assert "hunter2-value" not in stream.getvalue()


def test_log_keeps_harmless_fields() -> None:
    """Fields like token_expires_in and cache keys are not redacted."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)
    structlog.get_logger("t").info("ok", token_expires_in=60, cache="HIT", path="/x")
    event = json.loads(stream.getvalue())
    assert (event["token_expires_in"], event["cache"], event["path"]) == (60, "HIT", "/x")


async def test_log_buffered_writer_joins_one_loop_iteration() -> None:
    """Lines logged in one loop iteration reach the stream in one write, at the next iteration."""
    stream = CountingStream()
    writer = LineWriter(stream, buffered=True)
    for n in range(50):
        writer.msg(f"line {n}")
    assert stream.writes == 0
    await asyncio.sleep(0)
    assert stream.writes == 1
    assert stream.getvalue().splitlines() == [f"line {n}" for n in range(50)]


def test_log_buffered_writer_writes_at_once_without_a_loop() -> None:
    """Outside an event loop every line is written immediately."""
    stream = CountingStream()
    writer = LineWriter(stream, buffered=True)
    writer.msg("a")
    writer.msg("b")
    assert stream.getvalue() == "a\nb\n"
    assert stream.writes == 2


async def test_log_unbuffered_writer_writes_each_line() -> None:
    """With buffering off, each line is written at once even inside a loop."""
    stream = CountingStream()
    writer = LineWriter(stream, buffered=False)
    writer.msg("a")
    assert stream.getvalue() == "a\n"


@pytest.fixture
def _process_pid() -> Iterator[None]:
    bind_process(pid=4242)
    yield
    forget_process_context()


SEGMENT_7 = "/rest/serverengine/entity/jobsegments/7"
ACCESS_FIELDS = {
    "method": "GET",
    "path": "/x",
    "status": 403,
    "cache": "-",
    "duration_ms": 0.5,
    "remote": "192.0.2.7",
    "user_agent": "billing/1.2",
    "bytes_in": 0,
    "bytes_out": 97,
    "reason": "missing_scope:write",
}


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("_process_pid")
async def test_log_access_line_equals_the_structlog_line() -> None:
    """The access event rendered directly has exactly the fields structlog's chain gives it."""
    stream = io.StringIO()
    configure_logging("info", "json", stream, cache_loggers=False)
    start_request(request_id="r-1")
    bind_request(client="app")
    log_request(dict(ACCESS_FIELDS))
    structlog.get_logger("gateway.access").info("request", **ACCESS_FIELDS)
    direct, chained = _events(stream)
    assert direct.pop("timestamp")
    assert chained.pop("timestamp")
    assert direct == chained
    assert direct["request_id"] == "r-1"
    assert direct["client"] == "app"
    assert direct["pid"] == 4242
    assert direct["event"] == "request"


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_log_access_line_follows_level_and_format(fmt: str) -> None:
    """The access event is an info line: written at info, dropped at warning, in either format."""
    shown, hidden = io.StringIO(), io.StringIO()
    configure_logging("info", fmt, shown, cache_loggers=False)
    log_request(dict(ACCESS_FIELDS))
    configure_logging("warning", fmt, hidden, cache_loggers=False)
    log_request(dict(ACCESS_FIELDS))
    assert "request" in shown.getvalue()
    assert "/x" in shown.getvalue()
    assert hidden.getvalue() == ""


def test_log_access_line_redacts_credential_shaped_fields() -> None:
    """The direct rendering keeps the second line of defence against a leaked secret."""
    stream = io.StringIO()
    configure_logging("info", "json", stream, cache_loggers=False)
    log_request({**ACCESS_FIELDS, "api_key": "olcg_secret"})
    (event,) = _events(stream)
    assert event["api_key"] == REDACTED


async def test_log_request_context_is_per_request() -> None:
    """A new request starts with only its own fields: the previous request's client is gone."""
    stream = io.StringIO()
    configure_logging("info", "json", stream, cache_loggers=False)

    async def first_then_second() -> None:
        start_request(request_id="r-1")
        bind_request(client="app")
        structlog.get_logger("t").info("one")
        start_request(request_id="r-2")
        structlog.get_logger("t").info("two")

    await asyncio.create_task(first_then_second())
    structlog.get_logger("t").info("outside")
    one, two, outside = _events(stream)
    assert (one["request_id"], one["client"]) == ("r-1", "app")
    assert two["request_id"] == "r-2"
    assert "client" not in two
    assert "request_id" not in outside


def test_log_registered_secret_values_are_redacted_wherever_they_appear() -> None:
    """A registered value is blanked in any field, inside lists and mappings, and in tracebacks."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)
    register_secret("sim-Pa55-not-in-logs")
    logger = structlog.get_logger("t")
    logger.warning("oops", detail="login as ol-admin:sim-Pa55-not-in-logs failed")
    logger.error(
        "rejected",
        problems=["a: fine", "b: sim-Pa55-not-in-logs"],
        extra={"x": "sim-Pa55-not-in-logs"},
    )
    try:
        raise ValueError("bad password sim-Pa55-not-in-logs")
    except ValueError:
        logger.exception("unexpected")
    text = stream.getvalue()
    assert "sim-Pa55-not-in-logs" not in text
    first, second, third = _events(stream)
    assert first["detail"] == f"login as ol-admin:{REDACTED} failed"
    assert second["problems"] == ["a: fine", f"b: {REDACTED}"]
    assert second["extra"] == {"x": REDACTED}
    assert REDACTED in str(third["exception"])


def test_log_short_values_are_not_registered() -> None:
    """A value under 8 characters would blank out ordinary words: it is not taken."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)
    register_secret("secret")
    structlog.get_logger("t").info("config", detail="session_secret is unset")
    assert _events(stream)[0]["detail"] == "session_secret is unset"


def test_log_rotating_secret_keeps_its_last_two_values() -> None:
    """A slot (the upstream token) redacts its current and previous value, not older ones."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)
    for n in range(3):
        register_secret(f"token-number-{n}", slot="upstream_token")
    structlog.get_logger("t").info(
        "seen", a="token-number-0", b="token-number-1", c="token-number-2"
    )
    event = _events(stream)[0]
    assert (event["a"], event["b"], event["c"]) == ("token-number-0", REDACTED, REDACTED)


async def test_log_cache_stale_served_names_its_entry(
    make_gateway: MakeGateway, simulator: Simulator, wall_clock: FakeClock, log_output: io.StringIO
) -> None:
    """`cache_stale_served` says which entry it served (its `key` is no secret); no secret shows."""
    gateway = await make_gateway()
    async with gateway.get(SEGMENT_7, headers=key_header()) as response:
        assert response.status == 200
    simulator.fault = Fault.STATUS_500
    wall_clock.advance(301)
    async with gateway.get(SEGMENT_7, headers=key_header()) as response:
        assert response.headers["X-Cache"] == "STALE"
    [event] = [e for e in _events(log_output) if e["event"] == "cache_stale_served"]
    assert event["key"] == "GET /rest/serverengine/entity/jobsegments/7"
    for secret in [*simulator.issued_tokens(), *KEYS.values()]:
        assert secret not in log_output.getvalue()


async def test_log_the_upstream_token_is_redacted_by_value(
    gateway: TestClient[Any, Any], simulator: Simulator, log_output: io.StringIO
) -> None:
    """Once the gateway holds an upstream token, a line quoting it shows [REDACTED] instead."""
    async with gateway.get(SEGMENT_7, headers=key_header()) as response:
        assert response.status == 200
    [token] = simulator.issued_tokens()
    structlog.get_logger("t").warning("mistake", detail=f"sent auth_token {token}")
    assert token not in log_output.getvalue()
    assert _events(log_output)[-1]["detail"] == f"sent auth_token {REDACTED}"


def test_log_console_access_line_shows_status_first() -> None:
    """In console format the access line leads with status, method and path; request id last."""
    stream = io.StringIO()
    configure_logging("info", "console", stream, cache_loggers=False)
    start_request(request_id="r-1")
    log_request({"method": "GET", "path": "/x", "status": 404, "client": "app", "cache": "MISS"})
    (line,) = stream.getvalue().splitlines()
    fields = [part.split("=")[0] for part in line.split() if "=" in part]
    assert fields[:3] == ["status", "method", "path"]
    assert fields[-1] == "request_id"


async def test_log_the_upstream_password_is_redacted_by_value(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor, log_output: io.StringIO
) -> None:
    """The app registers `upstream.password` as a secret: a line quoting it shows [REDACTED].

    The password is fresh and longer than `MIN_SECRET_LENGTH`: nothing else registered it,
    and it is long enough to be registered at all.
    """
    password = f"upstream-pw-{secrets.token_hex(8)}"
    assert len(password) >= MIN_SECRET_LENGTH
    sim = make_simulator(password=password)
    gateway = await make_gateway_for(sim, upstream={"password": password})
    async with gateway.get(SEGMENT_7, headers=key_header()) as response:
        assert response.status == 200  # the gateway logged in with it
    structlog.get_logger("t").error("mistake", detail=f"login as ol-admin:{password} failed")
    assert password not in log_output.getvalue()
    assert _events(log_output)[-1]["detail"] == f"login as ol-admin:{REDACTED} failed"
