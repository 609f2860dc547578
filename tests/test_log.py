"""Logging set-up: JSON lines, redaction of credential-shaped fields, buffered writes."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator

import pytest
import structlog

from gateway.log import REDACTED, LineWriter, configure_logging


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
    assert event["timestamp"].endswith("Z")


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
