"""Secrets kept out of log lines: credential-named fields, and the values registered as secret.

The code never logs a credential on purpose; this is the second line of
defence against a mistake. Process-wide, like structlog's own configuration.
"""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping
from typing import Any

from gateway.telemetry.context import REQUEST_EVENT

REDACTED = "[REDACTED]"
# Field names that carry a credential. The code never logs one on purpose; this
# and the secret values below are the second line of defence against a mistake.
# A field merely called `key` is no secret: cache events name their entry with it.
_SECRET_FIELD = re.compile(
    r"pass|secret|token|authorization|cookie|api[_-]?key|credential", re.IGNORECASE
)
_SAFE_FIELDS = frozenset({"token_expires_in", "tokens"})
# Shorter values are too likely to occur by chance to be blanked out everywhere.
MIN_SECRET_LENGTH = 8
_MAX_SECRETS = 64  # a process registers a handful; many apps in one test process, more
_MAX_PER_SLOT = 2  # a rotated value (the upstream token) stays redacted while still in use
_secrets: dict[str, None] = {}  # an ordered set: the oldest is dropped beyond _MAX_SECRETS
_slots: dict[str, list[str]] = {}
_secret_values: tuple[str, ...] = ()


def register_secret(value: str, *, slot: str | None = None) -> None:
    """Redact `value` wherever it appears in a log line (other than the access line).

    Args:
        value: the upstream password, a session secret, a client key the process knows.
        slot: a value that rotates (the upstream token) replaces its slot's oldest
            value instead of adding one, so the set stays bounded.
    """
    global _secret_values  # logging is process-wide, like structlog's own configuration
    if len(value) < MIN_SECRET_LENGTH:
        return
    if slot is not None:
        held = _slots.setdefault(slot, [])
        if value in held:
            return
        held.append(value)
        if len(held) > _MAX_PER_SLOT:
            _secrets.pop(held.pop(0), None)
    _secrets.pop(value, None)
    _secrets[value] = None
    while len(_secrets) > _MAX_SECRETS:
        _secrets.pop(next(iter(_secrets)))
    _secret_values = tuple(_secrets)


def forget_secrets() -> None:
    """Drop every registered value (tests)."""
    global _secret_values
    _secrets.clear()
    _slots.clear()
    _secret_values = ()


@functools.lru_cache(maxsize=4096)
def _is_secret_field(field: str) -> bool:
    # Field names come from code, so the same few recur: judge each once, not per line.
    return field not in _SAFE_FIELDS and _SECRET_FIELD.search(field) is not None


def _scrub(value: Any, depth: int = 0) -> Any:
    """`value` with every registered secret blanked out, in strings, lists and mappings."""
    if isinstance(value, str):
        for secret in _secret_values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if depth < 3:
        if isinstance(value, list | tuple):
            return [_scrub(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return {key: _scrub(item, depth + 1) for key, item in value.items()}
    return value


@functools.lru_cache(maxsize=512)
def _secret_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    # Events have a few fixed sets of field names: judge each set once, not per line.
    return tuple(field for field in fields if _is_secret_field(field))


def redact_fields(event_dict: MutableMapping[str, Any]) -> None:
    for field in _secret_fields(tuple(event_dict)):
        event_dict[field] = REDACTED


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank out credential-named fields and registered secret values.

    The access event is checked by field name only: it is built from known
    fields on every request, and value checks there would cost every hit.
    """
    redact_fields(event_dict)
    if _secret_values and event_dict.get("event") != REQUEST_EVENT:
        for field, value in event_dict.items():
            event_dict[field] = _scrub(value)
    return event_dict
