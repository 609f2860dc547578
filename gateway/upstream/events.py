"""Why the upstream failed, or a budget refused: one structured event per kind, rate-limited.

An outage makes every request fail the same way; logging each would flood the
log and hide the one line that matters. `UpstreamEvents` logs the first
failure of each (cause, route) at once, then at most one per `interval`
seconds, carrying how many it left out (`suppressed`). Breaker transitions
are logged the same way, per (from, to), and refusals by a budget
(`budget_exceeded`) per cause. Every upstream failure is also reported to the
`on_failure` listener (readiness), throttled or not; a budget's refusal is
the client's load, not the upstream's health, and is not. The gate is
`gateway.telemetry.throttle`'s, shared with the per-request warnings.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from gateway.errors import UpstreamAuthError
from gateway.telemetry.throttle import DEFAULT_INTERVAL, Throttle

# Failure causes: constant strings, the `cause` field of `upstream_failed`.
CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
CONNECTION_ERROR = "connection_error"
TIMEOUT = "timeout"
STATUS_5XX = "status_5xx"
REDIRECT = "redirect"
INVALID_ANSWER = "invalid_answer"
TOKEN_REFUSED = "token_refused"  # noqa: S105 - a cause name, not a token
LOGIN_REJECTED = "login_rejected"
LOGIN_FAILED = "login_failed"

# Budget causes: constant strings, the `cause` field of `budget_exceeded`.
CLIENT_SLOTS = "client_slots"  # a client's share of upstream slots stayed taken
UPSTREAM_SLOTS = "upstream_slots"  # every upstream slot stayed taken
BUFFERED_BYTES = "buffered_bytes"  # server.max_buffered of request bodies already held
BODY_STALLED = "body_stalled"  # a request body made no progress for server.client_timeout
CONNECTIONS = "connections"  # server.max_connections client connections already open


log = structlog.get_logger("gateway.upstream")

_REFUSED = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}
_RESET = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


def connection_cause(exc: BaseException) -> str:
    """Name what went wrong on the wire: refused, reset, or another connection error."""
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return CONNECTION_RESET  # the upstream closed mid-exchange
    code = getattr(exc, "errno", None)
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
    if code in _REFUSED:
        return CONNECTION_REFUSED
    if code in _RESET or isinstance(exc, ConnectionResetError):
        return CONNECTION_RESET
    return CONNECTION_ERROR


def login_cause(error: BaseException) -> str:
    """The cause of a request that failed because the gateway could not log in.

    A login that reached no answer names what went wrong on the wire (the error
    it was raised from); one refused in the back-off after such a failure, or
    answered with garbage, is `login_failed`.
    """
    if isinstance(error, UpstreamAuthError):
        return LOGIN_REJECTED
    context = error.__context__
    if isinstance(context, TimeoutError):
        return TIMEOUT
    if isinstance(context, aiohttp.ClientError | OSError):
        return connection_cause(context)
    return LOGIN_FAILED


class UpstreamEvents:
    """Logs upstream failures and breaker transitions, each kind at most once per interval.

    Args:
        interval: seconds between two events of the same kind (and route).
        clock: monotonic seconds; injected so tests can advance time.
        on_failure: told the cause of every failure (readiness follows it).
    """

    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[str], object] = lambda _cause: None,
    ) -> None:
        self._failures = Throttle(interval, clock)
        self._transitions = Throttle(interval, clock)
        self._budgets = Throttle(interval, clock)
        self._on_failure = on_failure

    def failure(self, route: str, cause: str, **fields: Any) -> None:
        """One upstream request to `route` failed because of `cause` (a constant above).

        `fields` add safe detail (a status, an exception class name) — never
        exception text, which may quote a URL or a header.
        """
        self._on_failure(cause)
        suppressed = self._failures.admit((cause, route))
        if suppressed is not None:
            log.warning(
                "upstream_failed", route=route, cause=cause, suppressed=suppressed, **fields
            )

    def breaker(self, old: str, new: str, **fields: Any) -> None:
        """The circuit breaker went from `old` to `new` (state names, lower case)."""
        suppressed = self._transitions.admit((old, new))
        if suppressed is not None:
            level = log.warning if new == "open" else log.info
            level("upstream_breaker", old=old, new=new, suppressed=suppressed, **fields)

    def budget_exceeded(self, cause: str, **fields: Any) -> None:
        """A budget refused a request or a connection because of `cause` (a constant above).

        One line per cause and interval, whoever was refused: a flood of refusals
        is one event with its `suppressed` count, not a log that fills the disk.
        """
        suppressed = self._budgets.admit((cause, ""))
        if suppressed is not None:
            log.warning("budget_exceeded", cause=cause, suppressed=suppressed, **fields)
