"""Typed keys for app and request state, declared once (aiohttp's "no singletons")."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import Authenticator, Client
from gateway.cache import CacheService
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.ratelimit import RateLimiter
from gateway.tokens import UpstreamTokens
from gateway.upstream import UpstreamClient

CONFIG = web.AppKey("config", Config)
METRICS = web.AppKey("metrics", Metrics)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
TOKENS = web.AppKey("tokens", UpstreamTokens)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
CACHE = web.AppKey("cache", CacheService)

CLIENT = web.RequestKey("client", Client)
CACHE_OUTCOME = web.RequestKey("cache_outcome", str)
UPSTREAM_SECONDS = web.RequestKey("upstream_seconds", float)
