"""structlog set-up: configured once by the CLI, JSON lines or console, secrets redacted.

The parts live beside it: `context` (fields every line carries), `redaction`,
`output` (timestamp, field order, JSON, the line writer) and `access_line`.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from gateway.telemetry.access_line import JsonRequestLines, skip, write_requests_with
from gateway.telemetry.context import merge_context
from gateway.telemetry.output import LineWriter, UTCTimeStamper, console_order, json_serializer
from gateway.telemetry.redaction import redact_secrets
from gateway.telemetry.stdlog import route_stdlib_logging

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR


def configure_logging(
    level: str = "info",
    fmt: str = "json",
    stream: TextIO | None = None,
    *,
    cache_loggers: bool = True,
    buffered: bool = False,
) -> None:
    """Configure structlog for the whole process.

    Args:
        level: debug | info | warning | error.
        fmt: json (one JSON object per line) or console (human-readable).
        stream: where lines go; standard output by default.
        cache_loggers: freeze each logger's configuration on first use (fast);
            tests that reconfigure logging between cases turn it off.
        buffered: join the lines of one event-loop iteration into one write
            (`serve` turns it on; see `LineWriter`).
    """
    writer = LineWriter(stream or sys.stdout, buffered=buffered)
    stamper = UTCTimeStamper()
    renderer: structlog.typing.Processor
    if fmt == "console":
        # Insertion order, not sorted: `console_order` puts what a reader scans for first.
        renderer = structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)
        write_requests_with(None)
    else:
        dumps = json_serializer()
        renderer = structlog.processors.JSONRenderer(serializer=dumps)
        if LEVELS[level] <= logging.INFO:
            write_requests_with(JsonRequestLines(writer, dumps, stamper))
        else:
            write_requests_with(skip)  # the access event is below the level
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            merge_context,
            structlog.processors.add_log_level,
            stamper,
            structlog.processors.format_exc_info,
            redact_secrets,  # after the traceback is text: it is checked too
            *([console_order] if fmt == "console" else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=lambda *_args: writer,
        cache_logger_on_first_use=cache_loggers,
    )
    # aiohttp and asyncio log through the standard library: their warnings and
    # errors go through the chain above (parser rejections without their bytes).
    route_stdlib_logging(logging.WARNING)
