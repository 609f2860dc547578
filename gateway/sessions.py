"""Gateway session tokens from the login route: signed, so every process accepts them.

A token is ``olcs_`` + base64url(``name:expiry:nonce``) + ``.`` + base64url(HMAC-SHA256)
under a secret that every process of one deployment shares. Nothing is stored:
`serve --workers N` and several replicas behind one address all accept the
tokens any of them issued, and a client removed by a reload is refused because
its name no longer resolves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from gateway.errors import Forbidden, Unauthenticated

SESSION_PREFIX = "olcs_"
SECRET_BYTES = 32


def new_secret() -> bytes:
    """A random signing secret, for a process (or a set of workers) of its own."""
    return secrets.token_bytes(SECRET_BYTES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    # One spelling per token: stray characters or padding make it a different token.
    if "=" in text:
        raise ValueError("padded")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


class SessionTokens:
    """Issues and checks session tokens.

    Args:
        secret: the HMAC key; processes that must accept each other's tokens share it.
        ttl: lifetime of a token in seconds.
        wall_clock: epoch seconds; a token's expiry must mean the same in every process.
    """

    def __init__(
        self, secret: bytes, *, ttl: float, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self.ttl = ttl
        self._wall_clock = wall_clock

    def issue(self, client_name: str) -> str:
        """A token for `client_name`, valid for `ttl` seconds from now."""
        expires = int(self._wall_clock() + self.ttl)
        payload = f"{client_name}:{expires}:{secrets.token_hex(8)}".encode()
        return f"{SESSION_PREFIX}{_b64(payload)}.{_b64(self._sign(payload))}"

    def verify(self, token: str) -> str:
        """The client name a token was issued to.

        Raises:
            Forbidden: not a token of this deployment (malformed, forged, other secret).
            Unauthenticated: a genuine token past its expiry (401, as OL Connect answers).
        """
        body, _, signature = token.removeprefix(SESSION_PREFIX).partition(".")
        try:
            payload, mac = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError):
            raise Forbidden("invalid credentials") from None
        # SECURITY: constant-time compare of the signature before anything is parsed.
        if not hmac.compare_digest(mac, self._sign(payload)):
            raise Forbidden("invalid credentials")
        name, _, rest = payload.decode().partition(":")
        expires = int(rest.partition(":")[0])
        if self._wall_clock() >= expires:
            raise Unauthenticated("session token expired")
        return name

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()
