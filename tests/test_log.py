"""Logging set-up: JSON lines, redaction of credential-shaped fields, buffered writes."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog

import gateway.log
from gateway.log import (
    REDACTED,
    LineWriter,
    bind_process,
    bind_request,
    configure_logging,
    log_request,
    start_request,
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
        "key",
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
    gateway.log._process_context.clear()


ACCESS_FIELDS = {"method": "GET", "path": "/x", "status": 200, "cache": "HIT", "duration_ms": 0.5}


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
