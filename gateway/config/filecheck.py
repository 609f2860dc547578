"""Start-up check: a config file holding a secret in plain text must be private.

The secrets: `upstream.password`, and `server.session_secret` (with it anyone can
mint session tokens of any client and lifetime).
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

log = structlog.get_logger("gateway.server")

# `${VAR}` alone keeps the secret in the environment; `${VAR:-default}` writes a default here.
_ENV_ONLY = re.compile(r"\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*")


# The config keys holding secrets, as (section, key).
SECRET_KEYS = (("upstream", "password"), ("server", "session_secret"))


def plaintext_secrets(text: str) -> list[str]:
    """The secret keys (``upstream.password``…) the raw config text writes itself,
    not only as a ``${VAR}``."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return []  # the config loader reports a broken file
    if not isinstance(raw, dict):
        return []
    found = []
    for section, key in SECRET_KEYS:
        values = raw.get(section)
        value = values.get(key) if isinstance(values, dict) else None
        if value is not None and not (isinstance(value, str) and _ENV_ONLY.fullmatch(value)):
            found.append(f"{section}.{key}")
    return found


@dataclass(frozen=True, slots=True)
class Exposure:
    """A config file that others may read while it writes a secret itself."""

    mode: int
    readable_by: tuple[str, ...]  # "group", "other"
    plaintext: tuple[str, ...]  # key paths (``upstream.password``), never values

    def describe(self, path: str | Path) -> str:
        """One line for check-config: what is exposed to whom, and the fix."""
        return (
            f"{', '.join(self.plaintext)}: written in plain text in {path}, which "
            f"{' and '.join(self.readable_by)} may read (mode {oct(self.mode)}): {ADVICE}"
        )


ADVICE = "chmod 600 the file, or take the secrets from the environment (${VAR})"


def exposure(path: str | Path) -> Exposure | None:
    """How the config at `path` exposes a plaintext secret, or None (also when unreadable)."""
    try:
        mode = Path(path).stat().st_mode
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    readable_by = tuple(
        who for who, bit in (("group", stat.S_IRGRP), ("other", stat.S_IROTH)) if mode & bit
    )
    written = plaintext_secrets(text) if readable_by else []
    if not written:
        return None
    return Exposure(stat.S_IMODE(mode), readable_by, tuple(written))


def warn_if_exposed(path: str | Path) -> bool:
    """Log `config_file_permissions` if others may read a config holding a plaintext secret.

    Returns whether it warned. Never logs a secret or any part of the file.
    """
    found = exposure(path)
    if found is None:
        return False
    log.warning(
        "config_file_permissions",
        path=str(path),
        mode=oct(found.mode),
        readable_by=list(found.readable_by),
        plaintext=list(found.plaintext),  # key paths only, never their values
        advice=ADVICE,
    )
    return True
