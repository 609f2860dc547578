"""Loading a config: `${VAR}` expansion, YAML, strict validation, every problem by key path.

Every problem is gathered and reported at once as ``key.path: reason`` so an
operator fixes a broken file in one pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.model import Config, digests
from gateway.config.yamlenv import parse_yaml

DEFAULT_CONFIG_PATH = "config/gateway.yaml"
CONFIG_ENV_VAR = "OLCG_CONFIG"


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one ``key.path: reason`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, expand, parse and validate a config file.

    Raises:
        ConfigError: with every problem found, one ``key.path: reason`` line each.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError([f"config: cannot read {path}: {reason}"]) from None
    return parse_config(text, os.environ if environ is None else environ)


def parse_config(text: str, environ: Mapping[str, str]) -> Config:
    """Validate config text (see `load_config`)."""
    raw, problems, expanded = parse_yaml(text, environ)
    if not isinstance(raw, dict):
        raise ConfigError(problems or ["config: the file must hold a YAML mapping"])
    problems += _duplicate_clients(raw.get("clients"))
    try:
        config = _validate(raw, expanded)
    except ValidationError as exc:
        # A key whose variable is unset is already reported; its empty value is no news.
        unset = {line.split(":", 1)[0] for line in problems}
        described = (_describe(error) for error in _without_echoes(exc.errors()))
        problems += [line for line in described if line.split(":", 1)[0] not in unset]
    if problems:
        raise ConfigError(problems)
    return config


def _validate(raw: dict[str, Any], expanded: Mapping[tuple[str, ...], str]) -> Config:
    """Validate; a `${VAR}` value that resolved to a number or bool where text is
    wanted (a password of `123456` or `yes`) is retried as the text it expanded to."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        retyped = False
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"])
            if error["type"] == "string_type" and loc in expanded:
                _replace(raw, loc, expanded[loc])
                retyped = True
        if not retyped:
            raise
    return Config.model_validate(raw)


def _replace(container: Any, loc: tuple[str, ...], value: str) -> None:
    *parents, last = loc
    for part in parents:
        container = container[int(part)] if isinstance(container, list) else container[part]
    if isinstance(container, list):
        container[int(last)] = value
    else:
        container[last] = value


def _duplicate_clients(clients: Any) -> list[str]:
    """Names and key digests must be unique across all clients."""
    if not isinstance(clients, list):
        return []
    problems: list[str] = []
    seen_names: dict[str, int] = {}
    seen_digests: dict[str, int] = {}
    for index, client in enumerate(clients):
        if not isinstance(client, dict):
            continue
        name = client.get("name")
        if isinstance(name, str):
            if name in seen_names:
                problems.append(
                    f"clients.{index}.name: duplicate client name (also clients.{seen_names[name]})"
                )
            seen_names.setdefault(name, index)
        try:
            client_digests = digests(client.get("key_sha256"))
        except ValueError:
            continue  # reported by validation
        for digest in client_digests:
            if digest in seen_digests and seen_digests[digest] != index:
                problems.append(
                    f"clients.{index}.key_sha256: digest already used by "
                    f"clients.{seen_digests[digest]}"
                )
            seen_digests.setdefault(digest, index)
    return problems


def _without_echoes(errors: list[Any]) -> list[Any]:
    """Drop a list's "too short" error caused only by its own invalid items.

    pydantic counts a list's length after dropping invalid items, so one bad
    client would also read as "no clients".
    """
    parents = {tuple(e["loc"][:end]) for e in errors for end in range(len(e["loc"]))}
    return [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in parents)]


def _describe(error: Mapping[str, Any]) -> str:
    """One ``key.path: reason`` line for a pydantic error, free of pydantic jargon."""
    path = ".".join(str(part) for part in error["loc"]) or "config"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "missing":
        return f"{path}: required"
    if kind == "timezone_aware" or kind.startswith("datetime_"):
        return f"{path}: must be an ISO 8601 timestamp with a time zone"
    if kind == "tuple_type":
        return f"{path}: must be a list"
    if kind == "too_short":
        least = int(error.get("ctx", {}).get("min_length", 1))
        return (
            f"{path}: must not be empty"
            if least <= 1
            else f"{path}: must be at least {least} characters"
        )
    if kind in ("model_type", "dict_type"):
        return f"{path}: must be a mapping"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind == "literal_error":
        message = message.replace("Input should be", "must be one of")
    else:
        message = message.replace("Input should be", "must be")
    if kind == "string_pattern_mismatch" and path.endswith((".name", ".group")):
        message = "must not be empty or contain ':' or whitespace"
    return f"{path}: {message}"
