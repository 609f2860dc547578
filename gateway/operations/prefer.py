"""`Prefer: wait=N` (RFC 7240 §4.3): how long a client would wait for an answer.

A preference the gateway does not understand is ignored, as RFC 7240 asks:
a malformed or zero ``wait`` means no wait, never a 400.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

MAX_WAIT: Final = 60  # seconds (SPEC §11.3); a longer wait is cut to this
PREFERENCE_APPLIED: Final = "Preference-Applied"


def requested_wait(values: Iterable[str]) -> int | None:
    """The seconds of the first ``wait`` preference in the ``Prefer`` header values, capped
    at `MAX_WAIT`; None when there is none, or it is not a whole number above 0."""
    for value in values:
        for preference in value.split(","):
            token = preference.split(";", 1)[0]
            name, sep, raw = token.partition("=")
            if name.strip().lower() != "wait":
                continue
            seconds = raw.strip().strip('"') if sep else ""
            if not seconds.isascii() or not seconds.isdigit() or len(seconds) > 9:
                return None
            return min(int(seconds), MAX_WAIT) or None
    return None


def applied(seconds: int) -> dict[str, str]:
    """The answer header saying the wait was honoured."""
    return {PREFERENCE_APPLIED: f"wait={seconds}"}
