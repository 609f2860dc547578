"""How log lines leave the process: the timestamp, console field order, JSON, the line writer."""

from __future__ import annotations

import asyncio
import atexit
import json
import time
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

# Console lines: these fields first, in this order; the request id, long and rarely
# read, last; everything else in between as logged.
_CONSOLE_FIRST = ("status", "method", "path", "route", "client", "reason", "cache", "cause")
_CONSOLE_LAST = ("request_id",)


def console_order(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor (console only): the fields a reader scans for come first."""
    first = {key: event_dict[key] for key in _CONSOLE_FIRST if key in event_dict}
    last = {key: event_dict[key] for key in _CONSOLE_LAST if key in event_dict}
    rest = {key: value for key, value in event_dict.items() if key not in first and key not in last}
    return {**first, **rest, **last}


class UTCTimeStamper:
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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def json_serializer() -> Callable[..., str]:
    """orjson when installed (extra `speed`): same JSON, a few times faster."""
    try:
        import orjson
    except ImportError:
        return json.dumps

    def dumps(obj: Any, **_kwargs: Any) -> str:
        return orjson.dumps(obj, default=str).decode()

    return dumps
