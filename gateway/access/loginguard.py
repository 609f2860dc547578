"""The login route against guessing: failed logins counted per address and per client name.

After `LIMIT` failures within `WINDOW` seconds an address gets 429 with
``Retry-After`` on the login route, for every name it tries, until the oldest
of those failures leaves the window — even with correct credentials, so a
guesser learns nothing while blocked. A name is locked for every address only
when its failures came from at least `MIN_ADDRESSES` addresses: one address
cannot lock a client out everywhere (SPEC §9, issue 23 F9), it locks itself.
A request without credentials (the first step of a Basic challenge) is counted
in the metric but not against the limit. Names and addresses are kept as
truncated SHA-256 digests: a key pasted into the name field is never stored
(in memory, or in Redis with `gateway.access.sharedlimits`).
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from typing import Final, NoReturn, Protocol

import structlog
from aiohttp import web
from cachetools import TTLCache

from gateway.access.addresses import ClientAddress
from gateway.access.clients import Authenticator, read_credential
from gateway.access.ratelimit import refusal_headers, retry_after
from gateway.access.refusals import LOGIN_BLOCKED, MALFORMED, NO_CREDENTIAL
from gateway.errors import Forbidden, RateLimited, Unauthenticated
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.throttle import RepeatedWarnings

LIMIT: Final = 10  # failures …
WINDOW: Final = 60.0  # … within this many seconds block the address (or the name)
MIN_ADDRESSES: Final = 3  # a name's failures lock it everywhere only from this many addresses
MAX_KEYS: Final = 100_000  # names and addresses remembered in-process; the oldest go first

log = structlog.get_logger("gateway.auth")


class FailureStore(Protocol):
    """Where failures are kept: this process (`FailureLog`) or Redis (shared)."""

    async def blocked(self, address: str, name: str | None) -> float:
        """Seconds until ``address`` may try to log in (as ``name``) again; 0: it may now."""

    async def record(self, address: str, name: str | None) -> None:
        """Count one failure of ``address`` (trying ``name``, when it named one)."""


class FailureLog:
    """The times (and addresses) of each key's last `limit` failures, in this process only.

    Args:
        limit: failures that block an address, or a name tried from `MIN_ADDRESSES` …
        window: … when all happened within this many seconds.
        clock: monotonic seconds; injected so tests advance time instead of sleeping.
        max_keys: keys remembered; a key's record expires `window` after its last failure.
    """

    def __init__(
        self,
        *,
        limit: int = LIMIT,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._recent: TTLCache[str, deque[tuple[float, str]]] = TTLCache(
            max_keys, window, timer=clock
        )

    async def blocked(self, address: str, name: str | None) -> float:
        return self.blocked_now(address, name)

    async def record(self, address: str, name: str | None) -> None:
        self.record_now(address, name)

    def blocked_now(self, address: str, name: str | None) -> float:
        """`blocked`, without awaiting (the fallback of the shared store uses it)."""
        now = self._clock()
        wait = 0.0
        failures = self._recent.get(address)
        if failures is not None and len(failures) >= self.limit:
            wait = failures[0][0] + self.window - now
        failures = self._recent.get(name) if name is not None else None
        if (
            failures is not None
            and len(failures) >= self.limit
            and len({where for _, where in failures}) >= MIN_ADDRESSES
        ):
            wait = max(wait, failures[0][0] + self.window - now)
        return max(wait, 0.0)

    def record_now(self, address: str, name: str | None) -> None:
        """`record`, without awaiting."""
        now = self._clock()
        for key in (address, name):
            if key is None:
                continue
            failures = self._recent.get(key)
            if failures is None:
                failures = deque(maxlen=self.limit)
            failures.append((now, address))
            self._recent[key] = failures  # set again: it now expires a window after this one


def _keyed(kind: str, value: str) -> str:
    # SECURITY: a digest, not the value: users paste keys into name fields.
    return kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginGuard:
    """Runs login attempts, refusing addresses (and names) with too many recent failures.

    Args:
        store: where failures are counted (this process, or Redis for every gateway on it).
        metrics: counts failures by reason (``olcg_login_failures_total``).
        address: the request's client address (the peer, or a trusted proxy's word).
        warnings: rate-limits ``login_blocked`` per address: a blocked guesser retries
            as fast as it can.
    """

    def __init__(
        self,
        store: FailureStore,
        *,
        metrics: Metrics,
        address: Callable[[web.BaseRequest], str] | None = None,
        warnings: RepeatedWarnings | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._address = address or ClientAddress()
        self._warnings = warnings or RepeatedWarnings()

    async def login(self, request: web.Request, authenticator: Authenticator) -> str:
        """A session token for the request's Basic credentials, unless blocked.

        Raises:
            RateLimited: the address (or the name, from several addresses) failed too often
                lately (429, Retry-After).
            Unauthenticated, Forbidden: the login failed (counted; `reason` says why).
        """
        remote = self._address(request)
        address = _keyed("addr", remote)
        name: str | None = None
        malformed: Forbidden | None = None
        try:
            credential = read_credential(request.headers)
        except Forbidden as exc:
            credential, malformed = None, exc  # counted below, by address only
        else:
            if credential is not None and credential.name is not None:
                name = _keyed("name", credential.name)
        wait = await self._store.blocked(address, name)
        if wait > 0:
            self._metrics.count_login_failure("blocked")
            self._warnings.warning(
                "login_blocked", remote, remote=remote, retry_after=retry_after(wait)
            )
            raise RateLimited(
                "too many failed logins",
                headers=refusal_headers("login", LIMIT, int(WINDOW), wait),
                reason=LOGIN_BLOCKED,
            )
        if malformed is not None:
            await self._failed(remote, address, None, malformed)
        try:
            return authenticator.login(credential)
        except Unauthenticated:
            self._metrics.count_login_failure("missing")  # a Basic challenge's first step
            raise
        except Forbidden as exc:
            await self._failed(remote, address, name, exc)

    async def _failed(
        self, remote: str, address: str, name: str | None, exc: Forbidden
    ) -> NoReturn:
        reason = _METRIC_REASONS.get(exc.reason, exc.reason)
        self._metrics.count_login_failure(reason)
        # The reason and address only: the attempted name may be a mistyped key.
        log.info("login_failed", reason=reason, remote=remote)
        await self._store.record(address, name)
        raise exc


# The metric's (and login_failed's) names for two refusal reasons, kept as they were.
_METRIC_REASONS = {MALFORMED: "malformed", NO_CREDENTIAL: "missing"}
