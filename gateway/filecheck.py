"""Start-up check: a config file holding the upstream password in plain text must be private."""

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


def plaintext_password(text: str) -> bool:
    """Whether the raw config text writes `upstream.password` itself, not only a `${VAR}`."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return False  # the config loader reports a broken file
    upstream = raw.get("upstream") if isinstance(raw, dict) else None
    password = upstream.get("password") if isinstance(upstream, dict) else None
    if password is None:
        return False
    return not (isinstance(password, str) and _ENV_ONLY.fullmatch(password))


def warn_if_exposed(path: str | Path) -> bool:
    """Log `config_file_permissions` if others may read a config holding a plaintext password.

    Returns whether it warned. Never logs the password or any part of the file.
    """
    try:
        mode = Path(path).stat().st_mode
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    readable_by = [
        who for who, bit in (("group", stat.S_IRGRP), ("other", stat.S_IROTH)) if mode & bit
    ]
    if not readable_by or not plaintext_password(text):
        return False
    log.warning(
        "config_file_permissions",
        path=str(path),
        mode=oct(stat.S_IMODE(mode)),
        readable_by=readable_by,
        advice="chmod 600 the file, or take the password from ${OLCONNECT_PASSWORD}",
    )
    return True
