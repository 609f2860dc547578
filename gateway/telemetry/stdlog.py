"""The standard library's loggers (aiohttp, asyncio) through the structlog chain.

aiohttp and asyncio log with `logging`; their records become structlog events
in the same stream and format as ours, redacted like ours. A record about an
HTTP parser rejection becomes the one ``http_request_rejected`` event (or, for
a body refused after its request was answered, a debug event): its message and
traceback quote the raw request bytes, so neither is kept.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import structlog
from aiohttp.http_exceptions import HttpProcessingError

REJECTED_EVENT = "http_request_rejected"
LIBRARY_EVENT = "library_message"
BODY_EVENT = "http_request_body_discarded"

log = structlog.get_logger("gateway.server")


def parser_error(exc: BaseException | None) -> HttpProcessingError | None:
    """The HTTP parser error behind ``exc`` (itself, or what caused it), if any."""
    for _ in range(8):  # bounded: a cycle of causes cannot hang the logger
        if exc is None or isinstance(exc, HttpProcessingError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def log_rejection(exc: HttpProcessingError, remote: str | None) -> None:
    """The one event of a rejected request: its kind, never its bytes or a traceback."""
    # SECURITY: the exception's message quotes the raw request line or header; only
    # its class name (aiohttp's own, a bounded set) is logged.
    log.info(
        REJECTED_EVENT, status=int(HTTPStatus.BAD_REQUEST), reason=type(exc).__name__, remote=remote
    )


class StructlogHandler(logging.Handler):
    """Hands every standard-library record to structlog as a ``library_message`` event."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc = record.exc_info[1] if record.exc_info else None
            rejected = parser_error(exc)
            if rejected is not None and rejected is not exc:
                # A body the parser refused, met again when aiohttp drains it after the
                # answer: the request's own rejection (if any) is logged already.
                log.debug(BODY_EVENT, reason=type(rejected).__name__)
                return
            if rejected is not None:
                log_rejection(rejected, None)
                return
            log.log(
                record.levelno,
                LIBRARY_EVENT,
                logger=record.name,
                message=record.getMessage(),
                exc_info=record.exc_info or None,
            )
        except Exception:
            self.handleError(record)


def route_stdlib_logging(level: int = logging.WARNING) -> None:
    """Send the standard library's records at ``level`` and above through structlog."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.addHandler(StructlogHandler())
    root.setLevel(level)
    # The access middleware writes one line per request; aiohttp's would double it.
    logging.getLogger("aiohttp.access").disabled = True
