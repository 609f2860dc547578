"""`olconnect-gateway healthcheck`: GET /healthz where the config says the gateway listens.

For a container's HEALTHCHECK: it follows `server.host` and `server.port` of
the mounted config instead of a hard-coded address, prints one line and exits
0 (healthy) or 1 (not) — never 2, which Docker reserves. Only the `server:`
section is read, so a config whose other sections were edited since start-up
(and fail validation) does not mark a running gateway unhealthy.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path

from pydantic import ValidationError

from gateway.config.model import ServerConfig
from gateway.config.yamlenv import parse_yaml

HEALTHY = 0
UNHEALTHY = 1

# A wildcard address is where the gateway listens, not where it can be reached.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def healthz_url(host: str, port: int) -> str:
    """The /healthz URL of a gateway listening on `host`:`port`, from the same machine."""
    target = _WILDCARDS.get(host, host)
    try:
        if ipaddress.ip_address(target).version == 6:
            target = f"[{target}]"
    except ValueError:
        pass  # a host name
    return f"http://{target}:{port}/healthz"


def _server_section(path: str) -> ServerConfig:
    """The `server:` section of the config at `path`, validated alone."""
    text = Path(path).read_text(encoding="utf-8")
    raw, problems, _ = parse_yaml(text, os.environ)
    # An unset ${OLCONNECT_PASSWORD} in `upstream:` does not change where to probe.
    blocking = [p for p in problems if p.startswith(("config:", "server.", "server:"))]
    if blocking:
        raise ValueError(blocking[0])
    section = raw.get("server", {}) if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ValueError("config: server: must be a mapping")
    try:
        return ServerConfig.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"server.{where}: {first['msg']}") from None


def healthcheck(config_path: str, timeout: float) -> int:
    """Print one line about the gateway of `config_path`; 0 when /healthz answers 200."""
    try:
        server = _server_section(config_path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"unhealthy: cannot read {config_path}: {reason}")
        return UNHEALTHY
    url = healthz_url(server.host, server.port)
    # No proxies: an HTTP_PROXY in the container's environment must not carry a
    # loopback probe elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        failure = getattr(exc, "reason", None) or exc  # URLError wraps the socket error
        print(f"unhealthy: {url}: {failure}")
        return UNHEALTHY
    if status != HTTPStatus.OK:
        print(f"unhealthy: {url} answered {status}")
        return UNHEALTHY
    print(f"healthy: {url}")
    return HEALTHY
