"""Standard-library records (aiohttp, asyncio) through the structlog chain."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from aiohttp.http_exceptions import BadHttpMessage

from gateway.telemetry.log import configure_logging
from gateway.telemetry.stdlog import parser_error

SECRET_BYTES = "olcg_test_reader_0123456789abcdef"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_stdlog_parser_error_record_becomes_one_rejection_event() -> None:
    """aiohttp's "Error handling request" record with a parser error: no message, no traceback."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)
    try:
        raise BadHttpMessage(f"Invalid header value char:\n  b'X-API-Key: {SECRET_BYTES}\\x01'")
    except BadHttpMessage as exc:
        logging.getLogger("aiohttp.server").error(
            "Error handling request from %s", "1", exc_info=exc
        )
    (event,) = _events(stream)
    assert event["event"] == "http_request_rejected"
    assert event["reason"] == "BadHttpMessage"
    assert SECRET_BYTES not in stream.getvalue()
    assert "Traceback" not in stream.getvalue()


def test_stdlog_other_records_keep_logger_message_and_traceback() -> None:
    """Any other library warning is a JSON event naming its logger, with its traceback."""
    stream = io.StringIO()
    configure_logging("info", "json", stream, cache_loggers=False)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("asyncio").error("Task failed: %s", "t-1", exc_info=True)
    logging.getLogger("aiohttp.server").info("below the stdlib level: dropped")
    (event,) = _events(stream)
    assert event["event"] == "library_message"
    assert event["logger"] == "asyncio"
    assert event["message"] == "Task failed: t-1"
    assert "RuntimeError: boom" in str(event["exception"])


def test_stdlog_parser_error_found_behind_a_wrapping_exception() -> None:
    """A parser error that caused another exception is still recognised; a plain one is not."""
    outer = ValueError("wrapped")
    outer.__cause__ = BadHttpMessage("bad")
    assert isinstance(parser_error(outer), BadHttpMessage)
    assert parser_error(ValueError("plain")) is None
    assert parser_error(None) is None


def test_stdlog_body_error_met_after_the_answer_is_a_debug_event() -> None:
    """aiohttp draining a body the parser refused (after the answer): one debug event, not a
    second rejection, and none of the body's bytes."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)
    wrapped = RuntimeError(f"400, message:\n  ZZ{SECRET_BYTES}")
    wrapped.__cause__ = BadHttpMessage(f"ZZ{SECRET_BYTES}")
    logging.getLogger("aiohttp.server").error("Unhandled exception", exc_info=wrapped)
    (event,) = _events(stream)
    assert (event["event"], event["level"]) == ("http_request_body_discarded", "debug")
    assert SECRET_BYTES not in stream.getvalue()
