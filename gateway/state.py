"""Typed keys of app and request state, declared once (aiohttp's "no singletons")."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.access.clients import Authenticator, Client
from gateway.access.loginguard import LoginGuard
from gateway.access.ratelimit import RateLimiter
from gateway.cache import CacheService
from gateway.config.model import Config
from gateway.operations.owners import Owners
from gateway.operations.records import OperationRecord
from gateway.operations.watch import Watchers
from gateway.telemetry.aggregate import WorkerSet
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.throttle import RepeatedWarnings
from gateway.upstream.budgets import BodyBudget, Share
from gateway.upstream.client import UpstreamClient
from gateway.upstream.readiness import Readiness
from gateway.upstream.tokens import UpstreamTokens

CONFIG = web.AppKey("config", Config)
METRICS = web.AppKey("metrics", Metrics)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)
TOKENS = web.AppKey("tokens", UpstreamTokens)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
CACHE = web.AppKey("cache", CacheService)
READINESS = web.AppKey("readiness", Readiness)
OWNERS = web.AppKey("owners", Owners)
WATCHERS = web.AppKey("watchers", Watchers)
BODIES = web.AppKey("bodies", BodyBudget)
WARNINGS = web.AppKey("warnings", RepeatedWarnings)
# Set only under `serve --workers N`: this worker's place among its siblings.
WORKERS = web.AppKey("workers", WorkerSet)


@dataclass(slots=True)
class RequestFacts:
    """What the layers learn about one request, for its access line and metrics.

    The access-log middleware puts a fresh one on every request before the others
    run; they fill it in. One object rather than a RequestKey per fact: reading a
    key that was never set (no upstream call on a cache hit) costs a KeyError.

    Args:
        client: the authenticated client (None on public routes or before auth).
        cache_outcome: the ``X-Cache`` value, or "-" when the cache was not asked.
        upstream_seconds: the upstream call's duration, when one was made.
        reason: why the request was refused (`gateway.access.refusals`), or "".
        named: the configured client a refused request named or proved, or "".
        bytes_out: answer body bytes a streamed answer sent (None: not streamed).
    """

    client: Client | None = None
    cache_outcome: str = "-"
    upstream_seconds: float | None = None
    reason: str = ""
    named: str = ""
    bytes_out: int | None = None

    def share(self) -> Share | None:
        """The client's share of upstream slots (`clients[].max_concurrent`), if a client called."""
        client = self.client
        return None if client is None else Share(client.name, client.max_concurrent)


FACTS = web.RequestKey("facts", RequestFacts)
# The record of the operation a request names, when its owner check found one.
OPERATION_RECORD = web.RequestKey("operation_record", OperationRecord)
