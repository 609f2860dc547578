"""The config's typed, immutable model: every key, its type, default and bounds.

Loading a file into it (``${VAR}``, YAML, problems by key path) is
`gateway.config.load`'s. Handlers never read YAML or the environment: they
get a `Config`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)
from yarl import URL

from gateway.catalogue.model import Scope

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


class _Model(BaseModel):
    # strict: YAML already gives typed scalars, so "10" for a port is a mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def digests(value: Any) -> tuple[str, ...]:
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
    key_sha256: Annotated[tuple[str, ...], BeforeValidator(digests)]
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
