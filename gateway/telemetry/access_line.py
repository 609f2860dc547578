"""The access line: one ``request`` event per request, rendered on the shortest path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from gateway.telemetry.context import REQUEST_EVENT, current_fields
from gateway.telemetry.output import LineWriter, UTCTimeStamper
from gateway.telemetry.redaction import redact_fields


def skip(_fields: dict[str, Any]) -> None:
    """The access event below the configured level."""


class JsonRequestLines:
    """Renders the access event straight to JSON, the same line structlog's chain makes.

    Every request logs one, so it skips the chain: the event is built from the
    known fields in one step, stamped, redacted and serialized.
    """

    def __init__(
        self, writer: LineWriter, dumps: Callable[..., str], stamper: UTCTimeStamper
    ) -> None:
        self._writer = writer
        self._dumps = dumps
        self._stamper = stamper

    def __call__(self, fields: dict[str, Any]) -> None:
        event = {**current_fields(), **fields, "event": REQUEST_EVENT, "level": "info"}
        self._stamper(None, "info", event)
        redact_fields(event)
        self._writer.msg(self._dumps(event))


_access_log = structlog.get_logger("gateway.access")
# Set by `write_requests_with`: how log_request writes (None: through structlog).
_request_lines: Callable[[dict[str, Any]], None] | None = None


def write_requests_with(write: Callable[[dict[str, Any]], None] | None) -> None:
    """How `log_request` writes from now on; None: through structlog's chain."""
    global _request_lines  # logging is process-wide, like structlog's own configuration
    _request_lines = write


def log_request(fields: dict[str, Any]) -> None:
    """Log the one access event of a request (``request``) with ``fields``.

    It carries the fields of `bind_process` and `bind_request`; with JSON output it
    does not pass through structlog, so values bound with structlog's own
    contextvars helpers do not reach it.
    """
    write = _request_lines
    if write is None:
        _access_log.info(REQUEST_EVENT, **fields)
    else:
        write(fields)
