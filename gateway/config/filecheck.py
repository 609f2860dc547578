"""Start-up check: a config file holding a secret in plain text must be private.

The secrets: `upstream.password`, and `server.session_secret` (with it anyone can
mint session tokens of any client and lifetime).
"""

from __future__ import annotations

import re
import stat
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


def warn_if_exposed(path: str | Path) -> bool:
    """Log `config_file_permissions` if others may read a config holding a plaintext secret.

    Returns whether it warned. Never logs a secret or any part of the file.
    """
    try:
        mode = Path(path).stat().st_mode
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    readable_by = [
        who for who, bit in (("group", stat.S_IRGRP), ("other", stat.S_IROTH)) if mode & bit
    ]
    written = plaintext_secrets(text) if readable_by else []
    if not written:
        return False
    log.warning(
        "config_file_permissions",
        path=str(path),
        mode=oct(stat.S_IMODE(mode)),
        readable_by=readable_by,
        plaintext=written,  # key paths only, never their values
        advice="chmod 600 the file, or take the secrets from the environment (${VAR})",
    )
    return True
