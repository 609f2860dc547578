"""structlog set-up: configured once by the CLI, JSON lines or console, secrets redacted."""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import Any, TextIO

import structlog

from gateway.telemetry.stdlog import route_stdlib_logging

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR

REDACTED = "[REDACTED]"
REQUEST_EVENT = "request"  # the access event: one per request
# Field names that carry a credential. The code never logs one on purpose; this
# and the secret values below are the second line of defence against a mistake.
# A field merely called `key` is no secret: cache events name their entry with it.
_SECRET_FIELD = re.compile(
    r"pass|secret|token|authorization|cookie|api[_-]?key|credential", re.IGNORECASE
)
_SAFE_FIELDS = frozenset({"token_expires_in", "tokens"})
# Shorter values are too likely to occur by chance to be blanked out everywhere.
MIN_SECRET_LENGTH = 8
_MAX_SECRETS = 64  # a process registers a handful; many apps in one test process, more
_MAX_PER_SLOT = 2  # a rotated value (the upstream token) stays redacted while still in use
_secrets: dict[str, None] = {}  # an ordered set: the oldest is dropped beyond _MAX_SECRETS
_slots: dict[str, list[str]] = {}
_secret_values: tuple[str, ...] = ()


def register_secret(value: str, *, slot: str | None = None) -> None:
    """Redact `value` wherever it appears in a log line (other than the access line).

    Args:
        value: the upstream password, a session secret, a client key the process knows.
        slot: a value that rotates (the upstream token) replaces its slot's oldest
            value instead of adding one, so the set stays bounded.
    """
    global _secret_values  # logging is process-wide, like structlog's own configuration
    if len(value) < MIN_SECRET_LENGTH:
        return
    if slot is not None:
        held = _slots.setdefault(slot, [])
        if value in held:
            return
        held.append(value)
        if len(held) > _MAX_PER_SLOT:
            _secrets.pop(held.pop(0), None)
    _secrets.pop(value, None)
    _secrets[value] = None
    while len(_secrets) > _MAX_SECRETS:
        _secrets.pop(next(iter(_secrets)))
    _secret_values = tuple(_secrets)


def forget_secrets() -> None:
    """Drop every registered value (tests)."""
    global _secret_values
    _secrets.clear()
    _slots.clear()
    _secret_values = ()


@functools.lru_cache(maxsize=4096)
def _is_secret_field(field: str) -> bool:
    # Field names come from code, so the same few recur: judge each once, not per line.
    return field not in _SAFE_FIELDS and _SECRET_FIELD.search(field) is not None


def _scrub(value: Any, depth: int = 0) -> Any:
    """`value` with every registered secret blanked out, in strings, lists and mappings."""
    if isinstance(value, str):
        for secret in _secret_values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if depth < 3:
        if isinstance(value, list | tuple):
            return [_scrub(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return {key: _scrub(item, depth + 1) for key, item in value.items()}
    return value


# The request being served, one dict in one ContextVar: a request sets it once and
# auth adds the client, where structlog's contextvars helpers would clear and set
# a ContextVar per key on every request. Tasks started by a request inherit it.
_request_context: ContextVar[dict[str, Any] | None] = ContextVar("olcg_request", default=None)
# Fields of the whole process (a worker's pid), on every line.
_process_context: dict[str, Any] = {}


def bind_process(**fields: Any) -> None:
    """Add ``fields`` to every line this process logs from now on."""
    _process_context.update(fields)


def start_request(**fields: Any) -> None:
    """Begin a request's context with ``fields``; it replaces the previous request's."""
    _request_context.set(fields)


def bind_request(**fields: Any) -> None:
    """Add ``fields`` to every line logged for the current request."""
    context = _request_context.get()
    if context is not None:
        context.update(fields)


def merge_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: process and request fields first; the event's own win."""
    request = _request_context.get()
    if not request and not _process_context:
        return event_dict
    return {**_process_context, **(request or {}), **event_dict}


@functools.lru_cache(maxsize=512)
def _secret_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    # Events have a few fixed sets of field names: judge each set once, not per line.
    return tuple(field for field in fields if _is_secret_field(field))


def _redact_fields(event_dict: MutableMapping[str, Any]) -> None:
    for field in _secret_fields(tuple(event_dict)):
        event_dict[field] = REDACTED


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank out credential-named fields and registered secret values.

    The access event is checked by field name only: it is built from known
    fields on every request, and value checks there would cost every hit.
    """
    _redact_fields(event_dict)
    if _secret_values and event_dict.get("event") != REQUEST_EVENT:
        for field, value in event_dict.items():
            event_dict[field] = _scrub(value)
    return event_dict


# Console lines: these fields first, in this order; the request id, long and rarely
# read, last; everything else in between as logged.
_CONSOLE_FIRST = ("status", "method", "path", "route", "client", "cache", "cause")
_CONSOLE_LAST = ("request_id",)


def _console_order(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor (console only): the fields a reader scans for come first."""
    first = {key: event_dict[key] for key in _CONSOLE_FIRST if key in event_dict}
    last = {key: event_dict[key] for key in _CONSOLE_LAST if key in event_dict}
    rest = {key: value for key, value in event_dict.items() if key not in first and key not in last}
    return {**first, **rest, **last}


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
        second, micros = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event_dict["timestamp"] = "%s.%06dZ" % (self._prefix, micros)  # noqa: UP031 - faster
        return event_dict


class LineWriter:
    """A structlog logger that writes rendered lines once per event-loop iteration.

    Under load many requests finish in one loop iteration; joining their lines
    into one write saves a system call per request. Outside a running loop, or
    with `buffered=False`, every line is written at once. Pending lines are
    flushed at interpreter exit, so at most one loop iteration's lines are lost
    on a hard crash.
    """

    def __init__(self, stream: TextIO, *, buffered: bool = True) -> None:
        self._stream = stream
        self._buffered = buffered
        self._pending: list[str] = []
        self._scheduled = False
        if buffered:
            atexit.register(self.flush)

    def msg(self, message: str) -> None:
        self._pending.append(message)
        if self._scheduled:
            return
        loop = _running_loop() if self._buffered else None
        if loop is None:
            self.flush()
        else:
            loop.call_soon(self.flush)
            self._scheduled = True

    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def flush(self) -> None:
        """Write every pending line."""
        self._scheduled = False
        if self._pending:
            lines, self._pending = self._pending, []
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()


def _skip(_fields: dict[str, Any]) -> None:
    """The access event below the configured level."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _json_serializer() -> Callable[..., str]:
    """orjson when installed (extra `speed`): same JSON, a few times faster."""
    try:
        import orjson
    except ImportError:
        return json.dumps

    def dumps(obj: Any, **_kwargs: Any) -> str:
        return orjson.dumps(obj, default=str).decode()

    return dumps


class _JsonRequestLines:
    """Renders the access event straight to JSON, the same line structlog's chain makes.

    Every request logs one, so it skips the chain: the event is built from the
    known fields in one step, stamped, redacted and serialized.
    """

    def __init__(
        self, writer: LineWriter, dumps: Callable[..., str], stamper: _UTCTimeStamper
    ) -> None:
        self._writer = writer
        self._dumps = dumps
        self._stamper = stamper

    def __call__(self, fields: dict[str, Any]) -> None:
        request = _request_context.get() or {}
        event = {**_process_context, **request, **fields, "event": REQUEST_EVENT, "level": "info"}
        self._stamper(None, "info", event)
        _redact_fields(event)
        self._writer.msg(self._dumps(event))


_access_log = structlog.get_logger("gateway.access")
# Set by configure_logging: how log_request writes (None: through structlog).
_request_lines: Callable[[dict[str, Any]], None] | None = None


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
    global _request_lines  # logging is process-wide, like structlog's own configuration
    writer = LineWriter(stream or sys.stdout, buffered=buffered)
    stamper = _UTCTimeStamper()
    renderer: structlog.typing.Processor
    if fmt == "console":
        # Insertion order, not sorted: `_console_order` puts what a reader scans for first.
        renderer = structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)
        _request_lines = None
    else:
        dumps = _json_serializer()
        renderer = structlog.processors.JSONRenderer(serializer=dumps)
        if LEVELS[level] <= logging.INFO:
            _request_lines = _JsonRequestLines(writer, dumps, stamper)
        else:
            _request_lines = _skip
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            merge_context,
            structlog.processors.add_log_level,
            stamper,
            structlog.processors.format_exc_info,
            redact_secrets,  # after the traceback is text: it is checked too
            *([_console_order] if fmt == "console" else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=lambda *_args: writer,
        cache_logger_on_first_use=cache_loggers,
    )
    # aiohttp and asyncio log through the standard library: their warnings and
    # errors go through the chain above (parser rejections without their bytes).
    route_stdlib_logging(logging.WARNING)
