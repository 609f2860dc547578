"""Client authentication: API keys (stored as SHA-256), scopes, expiry, session tokens.

The gateway never stores a plaintext key: a presented key is hashed once and
looked up by digest, then compared in constant time. Session tokens from the
gateway's own login route are signed (see `gateway.access.sessions`), not stored, and
bound to the key digest that obtained them: a token works only while its client
still lists that digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import hdrs

from gateway.access.refusals import EXPIRED, MALFORMED, NO_CREDENTIAL, UNKNOWN_CLIENT, WRONG_KEY
from gateway.access.sessions import CHALLENGE, SESSION_PREFIX, SessionTokens
from gateway.config.model import ClientConfig
from gateway.errors import Forbidden, Unauthenticated

KEY_EXPIRED = "key expired"  # the message of the 403 for a client past its expires_at


ALL_GROUPS = "*"  # the group that sees every group's operations and files (SPEC §11.1)


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated caller, as the rest of the gateway sees it.

    `group` owns what the client starts and uploads; clients of one group share.
    """

    name: str
    scopes: frozenset[str]
    rate_limit: float | None
    expires_at: datetime | None
    max_concurrent: int | None = None  # its share of upstream slots; None: the fair share
    group: str = ""

    @property
    def sees_all(self) -> bool:
        """True for `group: "*"`: every group's operations and files."""
        return self.group == ALL_GROUPS


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request presented: a key (or session token), and the client name for Basic."""

    secret: str = field(repr=False)  # SECURITY: a repr in a log or traceback must not show it
    name: str | None = None


def read_credential(headers: Mapping[str, str]) -> Credential | None:
    """Take the key from X-API-Key, Authorization (Bearer or Basic) or auth_token.

    Raises:
        Forbidden: a Basic header that does not decode to ``name:key``.
    """
    if key := headers.get("X-API-Key"):
        return Credential(key)
    authorization = headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credential(value.strip())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Forbidden("invalid credentials", reason=MALFORMED) from None
        name, sep, key = decoded.partition(":")
        if not sep or not key:
            raise Forbidden("invalid credentials", reason=MALFORMED)
        return Credential(key, name)
    if token := headers.get("auth_token"):
        return Credential(token)
    return None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ClientRegistry:
    """An immutable snapshot of the configured clients, indexed by key digest.

    Args:
        clients: the configured clients.
        binding: the session-token fingerprint of a key digest; each client's
            fingerprints are computed once here, not per request.
    """

    def __init__(self, clients: Sequence[ClientConfig], binding: Callable[[str], str]) -> None:
        self._by_digest: dict[str, tuple[str, Client]] = {}
        self._by_name: dict[str, tuple[Client, tuple[str, ...]]] = {}
        for entry in clients:
            client = Client(
                entry.name,
                frozenset(entry.scopes),
                entry.rate_limit,
                entry.expires_at,
                group=entry.group or entry.name,
                max_concurrent=entry.max_concurrent,
            )
            bindings = tuple(binding(digest) for digest in entry.key_sha256)
            self._by_name[client.name] = (client, bindings)
            for digest in entry.key_sha256:
                self._by_digest[digest] = (digest, client)

    def by_name(self, name: str) -> Client | None:
        found = self._by_name.get(name)
        return None if found is None else found[0]

    def by_session(self, name: str, binding: str) -> Client | None:
        """The client `name` if it still holds the key digest behind `binding`."""
        found = self._by_name.get(name)
        if found is None:  # removed by a reload
            return None
        client, bindings = found
        # SECURITY: constant-time compares; a key rotated out (or a client re-added
        # under this name with other keys) leaves no matching fingerprint.
        matches = [hmac.compare_digest(binding, known) for known in bindings]
        return client if any(matches) else None

    def by_key(self, key: str) -> Client | None:
        digest = _digest(key)
        found = self._by_digest.get(digest)
        # SECURITY: constant-time compare of SHA-256 digests; the lookup only finds the candidate.
        if found is None or not hmac.compare_digest(found[0], digest):
            return None
        return found[1]


class Authenticator:
    """Turns a request's credential into a `Client`; issues session tokens.

    Args:
        clients: the configured clients; `replace_clients` swaps them atomically.
        sessions: signs and checks the login route's session tokens.
        wall_clock: aware UTC now, for the clients' `expires_at`.
    """

    def __init__(
        self,
        clients: Sequence[ClientConfig],
        *,
        sessions: SessionTokens,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.registry = ClientRegistry(clients, sessions.binding)
        self._wall_clock = wall_clock

    def replace_clients(self, clients: Sequence[ClientConfig]) -> None:
        """Apply a reloaded client list in one assignment (requests see old or new, never a mix)."""
        self.registry = ClientRegistry(clients, self.sessions.binding)

    def identify(self, credential: Credential | None) -> Client:
        """The client behind a credential.

        Raises:
            Unauthenticated: no credential, or an expired session token (401).
            Forbidden: unknown key, wrong name, or expired key (403).
        """
        if credential is None:
            raise Unauthenticated("API key required", headers=dict(CHALLENGE), reason=NO_CREDENTIAL)
        registry = self.registry
        if credential.name is None and credential.secret.startswith(SESSION_PREFIX):
            return self._session_client(registry, credential.secret)
        client = registry.by_key(credential.secret)
        if client is None or (credential.name is not None and credential.name != client.name):
            named = registry.by_name(credential.name) if credential.name is not None else None
            if named is None:  # an unknown name may be a mistyped key: never logged
                raise Forbidden("invalid credentials", reason=UNKNOWN_CLIENT)
            raise Forbidden("invalid credentials", reason=WRONG_KEY, client=named.name)
        # Written out rather than a call to _refuse_expired: this is every request's path.
        if client.expires_at is not None and self._wall_clock() >= client.expires_at:
            raise Forbidden(KEY_EXPIRED, reason=EXPIRED, client=client.name)
        return client

    def login(self, credential: Credential | None) -> str:
        """Check Basic ``name:key`` and issue a session token for that client."""
        if credential is None or credential.name is None:
            raise Unauthenticated(
                "Basic credentials required", headers=dict(CHALLENGE), reason=NO_CREDENTIAL
            )
        client = self.identify(credential)
        # The token is bound to the key that obtained it, so rotating that key ends it.
        return self.sessions.issue(client.name, _digest(credential.secret))

    def _session_client(self, registry: ClientRegistry, token: str) -> Client:
        session = self.sessions.verify(token)
        client = registry.by_session(*session)
        if client is None:
            if registry.by_name(session.client_name) is None:  # removed by a reload
                raise Forbidden("invalid credentials", reason=UNKNOWN_CLIENT)
            # The key behind the token was rotated out: the client still uses it.
            raise Forbidden("invalid credentials", reason=WRONG_KEY, client=session.client_name)
        self._refuse_expired(client)
        return client

    def _refuse_expired(self, client: Client) -> None:
        if client.expires_at is not None and self._wall_clock() >= client.expires_at:
            raise Forbidden(KEY_EXPIRED, reason=EXPIRED, client=client.name)
