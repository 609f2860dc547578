"""structlog set-up: configured once by the CLI, JSON lines or console, secrets redacted."""

from __future__ import annotations

import functools
import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR

REDACTED = "[REDACTED]"
# Field names that may carry a credential. The code never logs one on purpose;
# this is the second line of defence against a future mistake.
_SECRET_FIELD = re.compile(
    r"pass|secret|token|authorization|cookie|api[_-]?key|^key$|credential", re.IGNORECASE
)
_SAFE_FIELDS = frozenset({"token_expires_in", "tokens"})


@functools.lru_cache(maxsize=4096)
def _is_secret_field(field: str) -> bool:
    # Field names come from code, so the same few recur: judge each once, not per line.
    return field not in _SAFE_FIELDS and _SECRET_FIELD.search(field) is not None


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank out every field whose name looks like a credential."""
    for field in event_dict:
        if _is_secret_field(field):
            event_dict[field] = REDACTED
    return event_dict


class _UTCTimeStamper:
    """``timestamp``: ISO 8601 UTC with microseconds and ``Z``, like structlog's TimeStamper.

    The date and time of day are formatted once per second; a line only adds
    its microseconds (TimeStamper builds and formats a datetime every time).
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event_dict["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return event_dict


def configure_logging(
    level: str = "info",
    fmt: str = "json",
    stream: TextIO | None = None,
    *,
    cache_loggers: bool = True,
) -> None:
    """Configure structlog for the whole process.

    Args:
        level: debug | info | warning | error.
        fmt: json (one JSON object per line) or console (human-readable).
        stream: where lines go; standard output by default.
        cache_loggers: freeze each logger's configuration on first use (fast);
            tests that reconfigure logging between cases turn it off.
    """
    renderer: structlog.typing.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _UTCTimeStamper(),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=cache_loggers,
    )
    # aiohttp and asyncio log through the standard library: keep their warnings
    # and errors, in the same stream, without their access log.
    logging.basicConfig(stream=stream or sys.stdout, level=logging.WARNING, force=True)
    logging.getLogger("aiohttp.access").disabled = True
