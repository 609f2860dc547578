"""Gateway session tokens from the login route: signed, bound to the key that obtained them.

A token is ``olcs_`` + base64url(``name:expiry:nonce:binding``) + ``.`` +
base64url(HMAC-SHA256) under a secret that every process of one deployment
shares. ``binding`` is a short fingerprint of the SHA-256 digest of the key used
at login: an HMAC of that digest under the same secret, cut to 9 bytes, so the
token holds neither the key nor its digest. Nothing is stored: `serve --workers
N` and several replicas behind one address all accept the tokens any of them
issued, and the caller (`gateway.access.clients`) refuses a token whose client no longer
exists or no longer holds the key digest behind its binding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from aiohttp import hdrs

from gateway.access.refusals import EXPIRED, UNKNOWN_CLIENT
from gateway.errors import Forbidden, Unauthenticated

SESSION_PREFIX = "olcs_"
SECRET_BYTES = 32
BINDING_BYTES = 9  # 72 bits: a guess that matches another key's binding is out of reach
CHALLENGE: dict[str, str] = {str(hdrs.WWW_AUTHENTICATE): "BASIC"}
_BINDING_CONTEXT = b"olcg session key binding\x00"


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


class Session(NamedTuple):
    """What a genuine, unexpired token says: its client and its key binding."""

    client_name: str
    binding: str


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

    def binding(self, key_digest: str) -> str:
        """The fingerprint of a key digest that tokens carry (never the digest itself)."""
        mac = hmac.new(self._secret, _BINDING_CONTEXT + key_digest.encode(), hashlib.sha256)
        return _b64(mac.digest()[:BINDING_BYTES])

    def issue(self, client_name: str, key_digest: str) -> str:
        """A token for `client_name`, bound to `key_digest`, valid for `ttl` seconds from now."""
        expires = int(self._wall_clock() + self.ttl)
        binding = self.binding(key_digest)
        payload = f"{client_name}:{expires}:{secrets.token_hex(8)}:{binding}".encode()
        return f"{SESSION_PREFIX}{_b64(payload)}.{_b64(self._sign(payload))}"

    def verify(self, token: str) -> Session:
        """The client and key binding of a genuine, unexpired token.

        Raises:
            Forbidden: not a token of this deployment (malformed, forged, other secret).
            Unauthenticated: a genuine token past its expiry (401 with a Basic
                challenge: log in again).
        """
        body, _, signature = token.removeprefix(SESSION_PREFIX).partition(".")
        try:
            payload, mac = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError):
            raise Forbidden("invalid credentials", reason=UNKNOWN_CLIENT) from None
        # SECURITY: constant-time compare of the signature before anything is parsed.
        if not hmac.compare_digest(mac, self._sign(payload)):
            raise Forbidden("invalid credentials", reason=UNKNOWN_CLIENT)
        fields = payload.decode().split(":")
        if len(fields) != 4:  # signed by us, but before tokens were bound to keys
            raise Forbidden("invalid credentials", reason=UNKNOWN_CLIENT)
        name, expires, _nonce, binding = fields
        if self._wall_clock() >= int(expires):
            raise Unauthenticated(
                "session token expired", headers=dict(CHALLENGE), reason=EXPIRED, client=name
            )
        return Session(name, binding)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()
