"""Why a request was refused: the access line's `reason` on a 401, 403 or 429.

Only the log sees these. The client's JSON Error keeps its fixed message, so a
key guesser learns nothing from it (an unknown client and a wrong key read the
same), while an operator can trace a rotated key still in use, a client past
its `expires_at`, or a source trying keys.
"""

from __future__ import annotations

from typing import Final

NO_CREDENTIAL: Final = "no_credential"  # no key, token or Basic header at all
MALFORMED: Final = "malformed_credential"  # Basic that does not decode to name:key
UNKNOWN_CLIENT: Final = "unknown_client"  # no configured client holds the key or session
WRONG_KEY: Final = "wrong_key"  # a configured client named, with a key not (or no longer) its own
EXPIRED: Final = "expired"  # past the client's expires_at, or a session token past its expiry
MISSING_SCOPE: Final = "missing_scope"  # written `missing_scope:<scope>`
RATE_LIMITED: Final = "rate_limited"  # over the client's rate_limit (429)
LOGIN_BLOCKED: Final = "login_blocked"  # too many failed logins from the address or name (429)


def missing_scope(scope: str) -> str:
    """The reason for a client without `scope`."""
    return f"{MISSING_SCOPE}:{scope}"
