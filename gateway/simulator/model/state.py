"""The state of one simulated OL Connect server: credentials, tokens, entities, files, faults."""

from __future__ import annotations

import asyncio
import collections
import enum
import hmac
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multidict import CIMultiDictProxy

from gateway.simulator.model.data import DataSet, Properties
from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.filestore import FileStore
from gateway.simulator.model.operations import DEFAULT_PROGRESS_STEPS, Operations
from gateway.simulator.model.route_names import ROUTES

__all__ = ["ROUTES", "AuthErrors", "Compress", "Fault", "ManagedResult", "Simulator", "Stall"]


class Fault(enum.StrEnum):
    """A failure injected into every non-login request while it is set."""

    STATUS_500 = "status_500"
    """Answer 500 with the servlet container's HTML error page: a crash, an outage."""
    PROXY_502 = "proxy_502"
    """Answer 502 with a reverse proxy's HTML page, as when OL Connect behind it is down."""
    DROP = "drop"
    """Close the connection without an answer."""
    DROP_AFTER = "drop_after"
    """Run the request, then close the connection without an answer: the work is done,
    its answer lost (a delete that ran, a proxy that dropped the reply)."""
    RESET_MID_BODY = "reset_mid_body"
    """Send the headers and part of the body, then close the connection."""
    TRUNCATED_JSON = "truncated_json"
    """Answer 200 application/json with a cut-off JSON body (a complete HTTP message)."""
    NON_JSON = "non_json"
    """Answer 200 with a text/html body."""
    WRONG_CONTENT_TYPE = "wrong_content_type"
    """Answer 200 with a well-formed Identifier List labelled text/html."""
    HANG_AFTER_HEADERS = "hang_after_headers"
    """Send the headers, then never the body (until the connection or the app closes)."""
    REDIRECT = "redirect"
    """Answer 302 to another path."""
    UNAUTHORIZED = "unauthorized"
    """Answer 401 JSON Error, as if the token had expired."""
    DEEP_JSON = "deep_json"
    """Answer 200 application/json with arrays nested 100,000 deep (valid JSON)."""


class TokenState(enum.Enum):
    """What the simulator knows about a presented token."""

    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class Compress(enum.StrEnum):
    """Whether answers are gzipped."""

    OFF = "off"
    HONOUR = "honour"
    """Gzip when the request's Accept-Encoding allows it."""
    ALWAYS = "always"
    """Gzip every answer with a body, whatever the request asked for."""


class AuthErrors(enum.StrEnum):
    """How a refused credential is answered."""

    CURRENT = "current"
    """OL Connect 2023.2+: 401, a JSON Error and `WWW-Authenticate` for a missing, expired
    or invalid credential alike."""
    LEGACY = "legacy"
    """OL Connect up to 2022: 401 for a missing credential or an expired token, 403 for
    invalid credentials or an unknown token."""


class ManagedResult(enum.StrEnum):
    """What `getManagedResult` answers (the sources disagree, FIDELITY B7)."""

    JSON = "json"
    """`{"identifier": <file id>, "files": [...]}`, application/json: what the vendor's
    client parses and saw from a 2024.2.3 server."""
    TEXT = "text"
    """The Managed File ID as text/plain, as the 2020.2-2023.2 cookbooks document."""


@dataclass(frozen=True)
class Stall:
    """File downloads pause once, for `seconds`, after `after_bytes` bytes."""

    after_bytes: int
    seconds: float


@dataclass(frozen=True)
class SeenRequest:
    """What arrived on a route last: the raw target as sent and a copy of the headers."""

    method: str
    raw_path: str
    query_string: str
    headers: CIMultiDictProxy[str]


class Simulator:
    """All state of one simulated OL Connect server; tests reach it in-process.

    `calls` counts each request on arrival, before latency, faults and auth,
    so a test sees an upstream call as soon as it is made.

    Test controls (attributes, all off after `reset()`): `fault`, `latency`,
    `route_latency`, `route_hold` (seconds between computing a route's answer and
    sending it: an answer read before a write arrives after it), `reject_logins`,
    `compress`, `redirect_to` (a path under this
    server's base URL, or an absolute URL: every non-login route answers 302 to
    it), `stall` and `download_delay` (seconds before each chunk of a file
    download); `answer_headers` (added to every answer but the login's: a challenge,
    an expiry, a cookie the gateway must drop); `newer_routes` (paths no simulated
    route serves that answer 200 `true` to any method, as routes a newer OL Connect
    adds would; counted as `newer_route`); `route_gates` (in-process tests: a route's
    requests wait for its `asyncio.Event` after their latency); `last_request[route]`
    holds what arrived on each route last.

    Args:
        username: the one account that may log in.
        password: its password.
        token_ttl: token lifetime in seconds on `clock`.
        send_token_expiry: send `Token-Expires-In` on login (servers before 2021.2 do not).
        segments: job segments 1..segments exist (and the entities derived from them).
        seed: a mapping from `load_seed` that overrides or adds segments.
        clock: monotonic seconds; tests inject a fake one.
        spool_dir: where File Store uploads go; None for a private temporary directory.
        progress_steps: what successive `getProgress` polls answer before `done`.
        keep_finished_operations: `getProgress` keeps answering `done` after it did once
            (the simulator before it modelled OL Connect forgetting finished operations).
        auth_errors: how refused credentials are answered (2023.2+ or the older split).
        managed_result: the form of `getManagedResult` answers.
    """

    def __init__(
        self,
        *,
        username: str = "ol-admin",
        password: str = "secret",  # noqa: S107 - the documented demo default
        token_ttl: float = 3600,
        send_token_expiry: bool = True,
        segments: int = 1000,
        seed: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        spool_dir: str | Path | None = None,
        progress_steps: Sequence[int] = DEFAULT_PROGRESS_STEPS,
        keep_finished_operations: bool = False,
        auth_errors: AuthErrors = AuthErrors.CURRENT,
        managed_result: ManagedResult = ManagedResult.JSON,
    ) -> None:
        self.username = username
        self._password = password
        self.token_ttl = token_ttl
        self.send_token_expiry = send_token_expiry
        self.clock = clock
        self.data = DataSet(segments, seed)
        self.entities = Entities(self.data)
        self.files = FileStore(Path(spool_dir) if spool_dir is not None else None)
        self.operations = Operations(progress_steps, keep_finished=keep_finished_operations)
        self.auth_errors = auth_errors
        self.managed_result = managed_result
        self._tokens: dict[str, float] = {}  # token -> expiry on `clock`
        self.calls: collections.Counter[str] = collections.Counter()
        self.latency = 0.0
        self.route_latency: dict[str, float] = {}
        self.route_hold: dict[str, float] = {}
        self.fault: Fault | None = None
        self.reject_logins = False
        self.compress = Compress.OFF
        self.redirect_to: str | None = None
        self.stall: Stall | None = None
        self.download_delay = 0.0
        self.answer_headers: dict[str, str] = {}
        self.newer_routes: set[str] = set()
        self.route_gates: dict[str, asyncio.Event] = {}
        self.last_request: dict[str, SeenRequest] = {}

    def __repr__(self) -> str:
        return f"<Simulator user={self.username!r} tokens={len(self._tokens)} fault={self.fault}>"

    def check_credentials(self, username: str, password: str) -> bool:
        """Whether the pair matches the configured account."""
        # SECURITY: constant-time compares, like a real server would.
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self._password.encode())
        return user_ok and password_ok

    def issue_token(self) -> str:
        """Create a new token valid for `token_ttl` seconds."""
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self.clock() + self.token_ttl
        return token

    @property
    def token_expires_in(self) -> int:
        """The whole seconds announced in `Token-Expires-In` (rounded down, never late)."""
        return max(0, math.floor(self.token_ttl))

    def token_state(self, token: str) -> TokenState:
        """Classify a presented token."""
        expires_at = self._tokens.get(token)
        if expires_at is None:
            return TokenState.UNKNOWN
        if self.clock() >= expires_at:
            return TokenState.EXPIRED
        return TokenState.VALID

    def issued_tokens(self) -> list[str]:
        """Every token issued so far (tests check that none of them leaks)."""
        return list(self._tokens)

    def expire_all_tokens(self) -> None:
        """Make every issued token answer 401 (expired) from now on."""
        for token in self._tokens:
            self._tokens[token] = -math.inf

    def reset_counters(self) -> None:
        """Zero `calls`."""
        self.calls.clear()

    def reset(self) -> None:
        """Zero the counters, lift every fault and control, undo every change to the data.

        Created entities, operations and uploaded files are gone (spool files deleted).
        Issued tokens stay valid, so a client that is logged in stays logged in.
        """
        self.reset_counters()
        self.latency = 0.0
        self.route_latency.clear()
        self.route_hold.clear()
        self.fault = None
        self.reject_logins = False
        self.compress = Compress.OFF
        self.redirect_to = None
        self.stall = None
        self.download_delay = 0.0
        self.answer_headers.clear()
        self.newer_routes.clear()
        for gate in self.route_gates.values():
            gate.set()  # nothing stays held by a control that is gone
        self.route_gates.clear()
        self.last_request.clear()
        self.entities.reset()
        self.files.clear()
        self.operations.clear()

    @property
    def progress_steps(self) -> tuple[int, ...]:
        """What successive `getProgress` polls answer before `done`."""
        return self.operations.steps

    @progress_steps.setter
    def progress_steps(self, steps: Sequence[int]) -> None:
        self.operations.steps = tuple(steps)

    def generate_file(self, name: str, size: int) -> int:
        """Add a File Store file of `size` pattern bytes (`filestore.pattern_bytes`),
        made while it is downloaded and never stored; returns its id."""
        return self.files.generate(name, size).file_id

    def metadata(self, segment_id: int) -> Properties:
        """Current metadata properties of a segment; KeyError if it is unknown."""
        return self.entities.metadata(Family.JOBSEGMENTS, segment_id)

    def document_sets(self, segment_id: int) -> list[int]:
        """Document-set ids of a segment; KeyError if it is unknown."""
        return self.entities.children(Family.JOBSEGMENTS, segment_id)

    def delay(self, route: str) -> float:
        """Seconds to wait before answering a request on `route`."""
        return self.latency + self.route_latency.get(route, 0.0)
