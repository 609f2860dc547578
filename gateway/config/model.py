"""Configuration: `${VAR}` expansion, YAML, strict validation into immutable typed objects.

Every problem is gathered and reported at once as ``key.path: reason`` so an
operator fixes a broken file in one pass. Handlers never read YAML or the
environment: they get a `Config`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from yarl import URL

from gateway.catalogue.model import Scope
from gateway.config.yamlenv import parse_yaml

DEFAULT_CONFIG_PATH = "config/gateway.yaml"
CONFIG_ENV_VAR = "OLCG_CONFIG"

MIB = 1024 * 1024
# allow_inf_nan=False: YAML's `.inf` and `.nan` are floats, and an infinite timeout
# or TTL is no setting anyone means.
Duration = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Window = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_SESSION_TTL = 7 * 24 * 3600
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
PORT_RANGE = "must be 1-65535"


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(PORT_RANGE)
    return value


Port = Annotated[int, AfterValidator(_port)]


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one ``key.path: reason`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Model(BaseModel):
    # strict: YAML already gives typed scalars, so "10" for a port is a mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _digests(value: Any) -> tuple[str, ...]:
    """Accept one hex SHA-256 digest or a list of them (key rotation with overlap)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("must be a hex SHA-256 digest or a non-empty list of them")
    digests = []
    for item in items:
        if not isinstance(item, str) or not _HEX64.fullmatch(item.lower()):
            raise ValueError("must be 64 hex characters (the SHA-256 of the key)")
        digests.append(item.lower())
    return tuple(digests)


def _timestamp(value: Any) -> Any:
    """Refuse numbers: `expires_at: 20270630` must not mean a second in 1970."""
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 timestamp with a time zone")
    return value


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: Port = 8080
    # A session token cannot be revoked alone: a stolen one is good for a week at most.
    session_ttl: Annotated[float, Field(gt=0, le=MAX_SESSION_TTL, allow_inf_nan=False)] = 3600
    # Signs session tokens. Replicas behind one address need the same value; unset,
    # each process (or each `serve --workers` set) makes a random one at start.
    session_secret: SecretStr | None = Field(default=None, min_length=32)
    shutdown_timeout: Duration = 10
    # Seconds a client may take to send a request head (counted from connecting or from
    # its previous answer; also the keep-alive idle limit) and, again, its body: a
    # slow client cannot hold a connection forever.
    client_timeout: Duration = 30
    # Largest forwarded request body (SPEC §8.2): a bigger Content-Length is 413 before
    # anything goes upstream; a chunked body growing past it is cut off and answered 413.
    max_body: int = Field(default=1024 * MIB, ge=1)
    # Bytes of request bodies held in memory at once (bodies up to 1 MiB are read whole
    # before a slot); past it a request with a body gets 503 + Retry-After. At least two
    # bodies' worth: a streamed body holds its first 1 MiB and a chunk.
    max_buffered: int = Field(default=64 * MIB, ge=2 * MIB)
    # Client connections open at once, per process; the next one is answered 503 at once.
    # Keep below the file-descriptor limit (systemd LimitNOFILE), with room for upstream.
    max_connections: int = Field(default=1000, ge=1)
    # Browser origins allowed to call the gateway directly (SPEC §8.6); empty: no CORS.
    cors_origins: tuple[str, ...] = Field(default=(), strict=False)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client for
    # the access line and the login guard; empty: the TCP peer, the header ignored.
    trusted_proxies: tuple[str, ...] = Field(default=(), strict=False)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"{network!r} is not an IP address or network like 10.0.0.0/8"
                ) from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            url = URL(origin) if "://" in origin else URL()
            if (
                url.scheme not in ("http", "https")
                or not url.host
                or url.raw_path not in ("", "/")
                or url.raw_query_string
                or origin.endswith("/")
            ):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value


class UpstreamConfig(_Model):
    url: str
    username: str = Field(min_length=1)
    password: SecretStr
    token_ttl: Duration = 3600
    refresh_before: Window = 60
    timeout: Duration = 10
    max_connections: int = Field(default=100, ge=1)
    breaker_failures: int = Field(default=5, ge=1)  # consecutive failures that open the circuit
    breaker_cooldown: Duration = 10  # seconds open before one probe request goes through

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if _SPACE_OR_CONTROL.search(value):
            raise ValueError("must not contain spaces or control characters")
        try:
            url = URL(value)
            port = url.explicit_port
        except ValueError as exc:
            if "port" in str(exc).lower():
                raise ValueError(f"port {PORT_RANGE}") from None
            url, port = URL(), None
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError("must be an http:// or https:// URL with a host")
        if not _HOST.fullmatch(url.raw_host):
            raise ValueError(f"host {url.host!r} is not a valid host name or address")
        if port == 0:
            raise ValueError(f"port {PORT_RANGE}")
        if url.user is not None or url.password is not None:
            # SECURITY: the URL is logged at start-up; credentials have their own keys.
            raise ValueError("must not hold credentials: use upstream.username and .password")
        return value.rstrip("/")

    @field_validator("password")
    @classmethod
    def _password_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


class CacheTTLConfig(_Model):
    document_sets: Duration = 300  # job segments' document-set lists
    metadata: Duration = 60  # job segments' metadata
    not_found: Duration = 5
    children: Duration = 300  # child lists of other entities
    properties: Duration = 60  # metadata, properties and values of other entities
    service_info: Duration = 3600  # handshakes and versions
    statistics: Duration = 30  # job-set statistics
    # get-all lists of job, data and content sets: dropped as operations make sets (§10.1)
    all_sets: Duration = 10


class CacheConfig(_Model):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = Field(default="olcg:", min_length=1)
    max_entries: int = Field(default=10000, ge=1)
    # Largest upstream answer a cached route holds in memory; a bigger one is a 502.
    max_body: int = Field(default=8 * MIB, ge=1)
    # Upstream 404s are held apart, in a bound of their own: unknown ids cannot push out answers.
    max_not_found: int = Field(default=1000, ge=1)
    # Bytes the cache holds, answers and 404s (404s go first), in memory or in Redis.
    max_bytes: int = Field(default=256 * MIB, ge=1)
    # Redis: each process keeps what it read for this long (0: no near cache); also how
    # late another process's write can be seen here if its invalidation message is lost.
    near_ttl: Window = 1
    near_max_bytes: int = Field(default=32 * MIB, ge=1)  # per process, beside max_entries
    # Redis: the longest one call may take; after a failure Redis is skipped until it answers.
    redis_timeout: Duration = 0.25
    ttl: CacheTTLConfig = CacheTTLConfig()
    stale_if_error: Window = 300
    stale_while_revalidate: Window = 0

    @field_validator("backend")
    @classmethod
    def _backend_installed(cls, value: str) -> str:
        # redis is an optional extra: say so at check-config time, not as a startup traceback.
        if value == "redis" and importlib.util.find_spec("redis") is None:
            raise ValueError("redis needs the extra: pip install 'olconnect-gateway[redis]'")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if URL(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class ClientConfig(_Model):
    name: str = Field(min_length=1, pattern=r"^[^:\s]+$")
    # Operations and files belong to the group whose client started or uploaded them
    # (SPEC §11.1); unset: the client's own name. "*" sees every group's.
    group: str | None = Field(default=None, min_length=1, pattern=r"^[^:\s]+$")
    key_sha256: Annotated[tuple[str, ...], BeforeValidator(_digests)]
    expires_at: Annotated[AwareDatetime | None, BeforeValidator(_timestamp)] = Field(
        default=None, strict=False
    )
    # The catalogue's Scope, by value: one definition of the scopes for config, routes and CLI.
    scopes: tuple[Annotated[Scope, Field(strict=False)], ...] = Field(
        default=(Scope.READ,), min_length=1, strict=False
    )
    rate_limit: Duration | None = None
    # Upstream requests of this client in flight at once; unset: a fair share, a
    # quarter of upstream.max_connections (at least 1).
    max_concurrent: int | None = Field(default=None, ge=1)


class OperationsConfig(_Model):
    # How long the gateway remembers an operation's service, owner and progress
    # after its last change (SPEC §10.4).
    retention: Duration = 3600
    # The shortest time between two upstream polls of one operation, however many wait.
    poll_interval: Annotated[float, Field(ge=0.01, le=60, allow_inf_nan=False)] = 0.5


class IsolationConfig(_Model):
    # Operations and files of one group are invisible to the others (SPEC §11).
    enabled: bool = True
    # Ids the gateway never saw (made before it ran, by Workflow, or forgotten).
    unknown_ids: Literal["allow", "deny"] = "allow"
    # How long the owner of an uploaded file is remembered after its last use.
    file_retention: Duration = 7 * 24 * 3600


class MetricsConfig(_Model):
    # False: /metrics needs a key with the admin scope (a Prometheus bearer credential).
    public: bool = True
    # False: the `client` label is empty, so a public /metrics does not list the client names.
    client_labels: bool = False


class LoggingConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Config(_Model):
    """The whole validated configuration (SPEC §4)."""

    server: ServerConfig = ServerConfig()
    upstream: UpstreamConfig
    cache: CacheConfig = CacheConfig()
    clients: tuple[ClientConfig, ...] = Field(min_length=1, strict=False)
    operations: OperationsConfig = OperationsConfig()
    isolation: IsolationConfig = IsolationConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()


def key_digest(key: str) -> str:
    """The hex SHA-256 under which a client key is stored in the config."""
    return hashlib.sha256(key.encode()).hexdigest()


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
            digests = _digests(client.get("key_sha256"))
        except ValueError:
            continue  # reported by validation
        for digest in digests:
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
