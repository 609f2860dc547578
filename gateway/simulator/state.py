"""The state of one simulated OL Connect server: credentials, tokens, data, faults."""

from __future__ import annotations

import collections
import enum
import hmac
import math
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway.simulator.data import DataSet, Properties

#: Route names, the keys of `Simulator.calls` and `Simulator.route_latency`.
ROUTES = ("login", "handshake", "version", "document_sets", "metadata_get", "metadata_put")


class Fault(enum.StrEnum):
    """A failure injected into every non-login request while it is set."""

    STATUS_500 = "status_500"
    """Answer 500 with a JSON Error."""
    DROP = "drop"
    """Close the connection without an answer."""
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


class TokenState(enum.Enum):
    """What the simulator knows about a presented token."""

    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class Simulator:
    """All state of one simulated OL Connect server; tests reach it in-process.

    `calls` counts each request on arrival, before latency, faults and auth,
    so a test sees an upstream call as soon as it is made.

    Args:
        username: the one account that may log in.
        password: its password.
        token_ttl: token lifetime in seconds on `clock`.
        send_token_expiry: send `Token-Expires-In` on login (servers before 2025.1 do not).
        segments: job segments 1..segments exist.
        seed: a mapping from `load_seed` that overrides or adds segments.
        clock: monotonic seconds; tests inject a fake one.
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
    ) -> None:
        self.username = username
        self._password = password
        self.token_ttl = token_ttl
        self.send_token_expiry = send_token_expiry
        self.clock = clock
        self.data = DataSet(segments, seed)
        self._tokens: dict[str, float] = {}  # token -> expiry on `clock`
        self.calls: collections.Counter[str] = collections.Counter()
        self.latency = 0.0
        self.route_latency: dict[str, float] = {}
        self.fault: Fault | None = None
        self.reject_logins = False

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
        """Zero the counters, lift faults and latency, and undo metadata updates.

        Issued tokens stay valid, so a client that is logged in stays logged in.
        """
        self.reset_counters()
        self.latency = 0.0
        self.route_latency.clear()
        self.fault = None
        self.reject_logins = False
        self.data.reset()

    def metadata(self, segment_id: int) -> Properties:
        """Current metadata properties of a segment; KeyError if it is unknown."""
        segment = self.data.get(segment_id)
        if segment is None:
            raise KeyError(segment_id)
        return [dict(p) for p in segment.metadata]

    def document_sets(self, segment_id: int) -> list[int]:
        """Document-set ids of a segment; KeyError if it is unknown."""
        segment = self.data.get(segment_id)
        if segment is None:
            raise KeyError(segment_id)
        return list(segment.document_sets)

    def delay(self, route: str) -> float:
        """Seconds to wait before answering a request on `route`."""
        return self.latency + self.route_latency.get(route, 0.0)
