"""create_app(): app state, middleware order, lifecycles and the route table, in one place."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.access.addresses import ClientAddress
from gateway.access.clients import Authenticator
from gateway.access.loginguard import FailureLog, FailureStore, LoginGuard
from gateway.access.ratelimit import RateLimiter
from gateway.access.sessions import SessionTokens, new_secret
from gateway.cache import CacheBackend, CacheService, CacheStats, MemoryBackend
from gateway.config.model import Config
from gateway.edge.cors import Cors
from gateway.edge.middlewares import (
    access_log_middleware,
    auth_middleware,
    error_middleware,
    path_middleware,
    rate_limit_middleware,
    request_id_middleware,
    stamp_response,
)
from gateway.edge.routing import Targets, add_routes
from gateway.edge.worker_metrics import sibling_endpoint
from gateway.engines.validated_write import MAX_BODY
from gateway.engines.waiting import operations_ctx
from gateway.state import (
    AUTHENTICATOR,
    BODIES,
    CACHE,
    CONFIG,
    LOGIN_GUARD,
    METRICS,
    RATE_LIMITER,
    READINESS,
    TOKENS,
    UPSTREAM,
    WARNINGS,
    WORKERS,
)
from gateway.telemetry.aggregate import WorkerSet
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.redaction import register_secret
from gateway.telemetry.throttle import RepeatedWarnings
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.budgets import BodyBudget
from gateway.upstream.client import UpstreamClient
from gateway.upstream.events import UpstreamEvents
from gateway.upstream.readiness import Readiness
from gateway.upstream.tokens import UpstreamTokens

if TYPE_CHECKING:
    from gateway.cache.redis.backend import RedisBackend

# Connections beyond upstream.max_connections, so a login never waits behind the
# streams that hold every request slot.
LOGIN_CONNECTIONS = 2
# A cached read's load is bounded by its own timers, upstream.timeout each: a lease wait,
# a wait for another login and its own, a slot, the exchange, and after a refused token a
# login and the exchange again. They decide its outcome (504, 503 + Retry-After, 502) and
# tell the breaker before anyone is answered; a caller's wait is a safety net behind them
# all. Were it upstream.timeout too, it would always fire first (it starts first).
LOAD_TIMERS = 8


def create_app(
    config: Config,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
    session_secret: bytes | None = None,
    owners_path: str | None = None,
    workers: WorkerSet | None = None,
) -> web.Application:
    """Build the gateway for `config`.

    Args:
        config: the validated configuration.
        clock: monotonic seconds for upstream token and rate-limit timing.
        wall_clock: epoch seconds for cache entries, session tokens (both shared
            across processes) and client key expiry.
        registry: the Prometheus registry; a fresh one per app by default.
        session_secret: signs session tokens when `server.session_secret` is
            unset; `serve --workers` gives every worker the same one. Random if None.
        owners_path: the file where `serve --workers` share owners of operations and
            files on the memory back-end (SPEC §11.2); None: this process alone.
        workers: this worker's place under `serve --workers N`: /metrics then
            answers for every worker. None for a single process.
    """
    metrics = Metrics(registry or CollectorRegistry(), client_labels=config.metrics.client_labels)
    configured_secret = config.server.session_secret
    register_secret(config.upstream.password.get_secret_value())
    if configured_secret is not None:
        register_secret(configured_secret.get_secret_value())
    sessions = SessionTokens(
        configured_secret.get_secret_value().encode()
        if configured_secret is not None
        else session_secret or new_secret(),
        ttl=config.server.session_ttl,
        wall_clock=wall_clock,
    )
    authenticator = Authenticator(
        config.clients,
        sessions=sessions,
        wall_clock=lambda: datetime.fromtimestamp(wall_clock(), UTC),
    )
    limiter = RateLimiter(clock)
    failures = FailureLog(clock=clock)
    store: FailureStore = failures
    acquire = limiter.take
    shared_ctx = None
    if config.cache.backend == "redis":
        # Limits hold across every gateway on the Redis; the local ones are the fallback.
        from gateway.access.sharedlimits import SharedLimits
        from gateway.cache.redis.backend import connect

        shared = SharedLimits(
            connect(config.cache.redis_url, config.cache.redis_timeout),
            prefix=config.cache.redis_prefix,
            limiter=limiter,
            failures=failures,
        )
        store = shared
        acquire = shared.acquire
        shared_ctx = _closing(shared.close)
    targets: Targets = {}  # filled by add_routes below, read by the middlewares
    address = ClientAddress(config.server.trusted_proxies)
    warnings = RepeatedWarnings(clock=clock)
    cors = Cors(config.server.cors_origins) if config.server.cors_origins else None
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[
            request_id_middleware,
            access_log_middleware(metrics=metrics, targets=targets, address=address),
            error_middleware,
            path_middleware,  # before anything reads the path: routes' scopes, CORS, engines
            *([cors.middleware()] if cors is not None else []),  # preflights need no key
            auth_middleware(authenticator=authenticator, targets=targets),
            rate_limit_middleware(acquire=acquire, metrics=metrics, warnings=warnings),
        ],
    )
    app[CONFIG] = config
    app[METRICS] = metrics
    app[AUTHENTICATOR] = authenticator
    app[RATE_LIMITER] = limiter
    app[WARNINGS] = warnings
    app[LOGIN_GUARD] = LoginGuard(store, metrics=metrics, address=address, warnings=warnings)
    if shared_ctx is not None:
        app.cleanup_ctx.append(shared_ctx)
    app.cleanup_ctx.append(_upstream_ctx(clock))
    app.cleanup_ctx.append(_cache_ctx(wall_clock))
    # After the upstream's: its pollers stop before the upstream session closes.
    app.cleanup_ctx.append(operations_ctx(owners_path))
    if workers is not None:
        app[WORKERS] = workers
        app.cleanup_ctx.append(sibling_endpoint)
    targets.update(add_routes(app, config))
    app.on_response_prepare.append(stamp_response)
    if cors is not None:
        app.on_response_prepare.append(cors.stamp)
    return app


def _closing(
    close: Callable[[], Awaitable[None]],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await close()

    return ctx


def _upstream_ctx(
    clock: Callable[[], float],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def upstream(app: web.Application) -> AsyncIterator[None]:
        settings = app[CONFIG].upstream
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.max_connections + LOGIN_CONNECTIONS),
            # Logins are bounded by this; requests by UpstreamClient, which needs
            # progress-based timeouts for streamed bodies instead of a total.
            timeout=aiohttp.ClientTimeout(total=settings.timeout),
            auto_decompress=False,  # bodies pass through byte for byte
        ) as session:
            tokens = UpstreamTokens(
                session,
                base_url=settings.url,
                username=settings.username,
                password=settings.password,
                token_ttl=settings.token_ttl,
                refresh_before=settings.refresh_before,
                metrics=app[METRICS],
                clock=clock,
            )
            app[METRICS].watch_token(tokens.seconds_left)
            app[TOKENS] = tokens
            readiness = app[READINESS] = Readiness(wait=settings.timeout, clock=clock)
            app[METRICS].watch_readiness(readiness.up, readiness.age)
            events = UpstreamEvents(clock=clock, on_failure=readiness.failed)
            breaker = CircuitBreaker(
                failures=settings.breaker_failures,
                cooldown=settings.breaker_cooldown,
                clock=clock,
                on_reject=app[METRICS].breaker_rejected.inc,
                on_success=readiness.succeeded,
                on_transition=events.breaker,
            )
            app[METRICS].watch_breaker(lambda: breaker.state)
            app[BODIES] = BodyBudget(
                max_buffered=app[CONFIG].server.max_buffered,
                client_timeout=app[CONFIG].server.client_timeout,
                events=events,
            )
            app[UPSTREAM] = UpstreamClient(
                session,
                tokens,
                base_url=settings.url,
                metrics=app[METRICS],
                breaker=breaker,
                timeout=settings.timeout,
                max_connections=settings.max_connections,
                events=events,
            )
            try:
                yield
            finally:
                await readiness.close()  # a probe uses the session: end it first
                await tokens.close()

    return upstream


def make_backend(config: Config, stats: CacheStats, clock: Callable[[], float]) -> CacheBackend:
    """The configured cache backend; a Redis one owns a new client, closed with it."""
    cache = config.cache
    retention = max(cache.stale_if_error, cache.stale_while_revalidate)
    if cache.backend == "redis":
        # Imported here: redis is an optional extra, needed only for this backend.
        from gateway.cache.redis.backend import RedisBackend, connect

        shared = RedisBackend(
            connect(cache.redis_url, cache.redis_timeout),
            prefix=cache.redis_prefix,
            retention=retention,
            max_wait=config.upstream.timeout,
            max_entries=cache.max_entries,
            max_not_found=cache.max_not_found,
            max_bytes=cache.max_bytes,
            timeout=cache.redis_timeout,
            stats=stats,
            clock=clock,
        )
        if cache.near_ttl <= 0:
            return shared
        return _near(config, shared)
    return MemoryBackend(
        max_entries=cache.max_entries,
        max_not_found=cache.max_not_found,
        max_bytes=cache.max_bytes,
        retention=retention,
        stats=stats,
        clock=clock,
    )


def _near(config: Config, shared: RedisBackend) -> CacheBackend:
    from gateway.cache.near import NearCache
    from gateway.cache.redis.near import NearBackend
    from gateway.cache.redis.subscriber import Invalidations

    cache = config.cache
    near = NearCache(
        ttl=cache.near_ttl, max_entries=cache.max_entries, max_bytes=cache.near_max_bytes
    )
    invalidations = Invalidations(
        cache.redis_url, channel=shared.channel, near=near, timeout=cache.redis_timeout
    )
    return NearBackend(shared, near, invalidations)


def _cache_ctx(
    clock: Callable[[], float],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def cache(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        stats = CacheStats()
        backend = make_backend(config, stats, clock)
        service = CacheService(
            backend,
            not_found_ttl=config.cache.ttl.not_found,
            stale_if_error=config.cache.stale_if_error,
            stale_while_revalidate=config.cache.stale_while_revalidate,
            wait_timeout=LOAD_TIMERS * config.upstream.timeout,
            stats=stats,
            clock=clock,
            warnings=app[WARNINGS],
        )
        app[METRICS].watch_cache(stats, backend.entry_count)
        app[CACHE] = service
        try:
            yield
        finally:
            await service.close()

    return cache
