"""Prometheus metrics on an injected registry: one `Metrics` per app, no globals.

Labels are route templates, statuses, outcomes and configured client names (only
with ``metrics.client_labels``) — never raw paths, ids or keys — so the series
count stays bounded.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gateway.telemetry.aggregate import GaugeMerge, GaugeRule


class CacheCounters(Protocol):
    """The cache's counters, bumped on its hot path and read here at scrape time.

    `gateway.cache.CacheStats` is one; telemetry names what it reads rather
    than importing the cache, which sits above it.
    """

    hits: int
    misses: int
    stale: int
    bypass: int
    coalesced: int
    evictions: int
    stores: int
    errors: int
    backend_errors: int


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# The `method` label's values; anything else (the pure-Python HTTP parser accepts any
# token as a method, llhttp knows WebDAV's) is "other", so a client cannot mint series.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"}
)
OTHER_METHOD = "other"
# Why a login at the gateway's own login route failed (the `reason` label's values).
LOGIN_FAILURE_REASONS = (
    "missing",  # no Basic credentials (401 with a challenge)
    "malformed",  # Basic that does not decode to name:key
    "unknown_client",
    "wrong_key",
    "expired",  # the client's expires_at has passed
    "blocked",  # refused with 429: too many recent failures for the name or address
)


# How `serve --workers N` merges each gauge across its workers (SPEC §12.1); a gauge not
# listed is one series per worker with a `worker` label (token, breaker). Counters and
# histograms are always summed.
WORKER_MERGE = {
    # Each worker holds its own memory cache: the entries held in all of them.
    "olcg_cache_entries": GaugeMerge(GaugeRule.SUM),
    # Each worker polls for the waiters it holds: the operations watched in all of them.
    "olcg_operations_watched": GaugeMerge(GaugeRule.SUM),
    # The gateway's last upstream outcome is the most recent of any worker's.
    "olcg_upstream_ready": GaugeMerge(
        GaugeRule.LATEST, latest_by="olcg_upstream_last_outcome_timestamp_seconds"
    ),
    "olcg_upstream_last_outcome_timestamp_seconds": GaugeMerge(GaugeRule.MAX),
}


def method_label(method: str) -> str:
    """`method` when it is one of the nine standard methods, else "other"."""
    return method if method in METHODS else OTHER_METHOD


class Metrics:
    """Every metric the gateway exports.

    Args:
        registry: where the metrics live; tests give each app its own.
        client_labels: False: the ``client`` label is always empty (Prometheus reads it as
            absent), so a public /metrics does not list the configured client names.
    """

    def __init__(self, registry: CollectorRegistry, *, client_labels: bool = True) -> None:
        self.registry = registry
        self._client_labels = client_labels
        self._requests = _RequestCollector(_LATENCY_BUCKETS)
        registry.register(self._requests)
        self.upstream_requests = Counter(
            "olcg_upstream_requests",
            "Requests sent to OL Connect by route and status (or error kind).",
            ["route", "status"],
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "olcg_upstream_duration_seconds",
            "OL Connect request latency by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.logins = Counter(
            "olcg_upstream_logins",
            "Logins to OL Connect by outcome (ok, rejected, error).",
            ["outcome"],
            registry=registry,
        )
        self.token_expiry = Gauge(
            "olcg_upstream_token_expires_in_seconds",
            "Seconds until the current upstream token expires (0 when none).",
            registry=registry,
        )
        self.rate_limited = Counter(
            "olcg_rate_limited_requests",
            "Requests refused with 429 by client.",
            ["client"],
            registry=registry,
        )
        self.breaker_state = Gauge(
            "olcg_upstream_breaker_state",
            "Upstream circuit breaker state: 0 closed, 1 open, 2 half-open.",
            registry=registry,
        )
        self.upstream_ready = Gauge(
            "olcg_upstream_ready",
            "1 while the last upstream outcome was a success, 0 while it was a failure "
            "(the /readyz rule without its probe); NaN before the first.",
            registry=registry,
        )
        self.upstream_last_outcome = Gauge(
            "olcg_upstream_last_outcome_timestamp_seconds",
            "When the last upstream outcome (success or failure) was seen, in Unix seconds; "
            "NaN before the first.",
            registry=registry,
        )
        self.breaker_rejected = Counter(
            "olcg_upstream_breaker_rejected",
            "Requests failed fast, without an upstream call, while the circuit was open.",
            registry=registry,
        )
        self.reloads = Counter(
            "olcg_config_reloads",
            "Client list reloads (SIGHUP) by outcome (ok, invalid).",
            ["outcome"],
            registry=registry,
        )
        self._body_bytes = _BodyBytesCollector()
        registry.register(self._body_bytes)
        self.login_failures = Counter(
            "olcg_login_failures",
            "Failed logins at the gateway's login route by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in LOGIN_FAILURE_REASONS:  # every series from the start, at 0
            self.login_failures.labels(reason)
        watched = "Operations that clients wait on in this process (Prefer: wait, events)."
        self.operations_watched = Gauge("olcg_operations_watched", watched, registry=registry)
        polls = "getProgress polls sent to OL Connect for waiting clients."
        self.operation_polls = Counter("olcg_operation_polls", polls, registry=registry)
        self._upstream_children: dict[tuple[str, str], Callable[[], None]] = {}
        self._upstream_latency_children: dict[str, Callable[[float], None]] = {}
        self._rate_limited_children: dict[str, Callable[[], None]] = {}

    def observe_request(
        self, route: str, method: str, status: int, client: str, seconds: float
    ) -> None:
        """Count one downstream request and its latency (`method` is bounded here)."""
        client = client if self._client_labels else ""
        self._requests.observe(route, method_label(method), status, client, seconds)

    def observe_upstream(self, route: str, outcome: str, seconds: float) -> None:
        """Count one upstream request (`outcome`: status, "timeout" or "error") and its latency."""
        key = (route, outcome)
        inc = self._upstream_children.get(key)
        if inc is None:
            inc = self._upstream_children[key] = self.upstream_requests.labels(route, outcome).inc
        inc()
        observe = self._upstream_latency_children.get(route)
        if observe is None:
            observe = self._upstream_latency_children[route] = self.upstream_seconds.labels(
                route
            ).observe
        observe(seconds)

    def count_upload(self, size: int) -> None:
        """Count bytes of a forwarded request body sent upstream."""
        self._body_bytes.upload += size

    def count_download(self, size: int) -> None:
        """Count bytes of a forwarded answer body sent to the client."""
        self._body_bytes.download += size

    def count_rate_limited(self, client: str) -> None:
        """Count one request refused with 429 for `client`."""
        client = client if self._client_labels else ""
        inc = self._rate_limited_children.get(client)
        if inc is None:
            inc = self._rate_limited_children[client] = self.rate_limited.labels(client).inc
        inc()

    def count_login_failure(self, reason: str) -> None:
        """Count one failed login; `reason` is one of `LOGIN_FAILURE_REASONS`."""
        self.login_failures.labels(reason).inc()

    def watch_token(self, seconds_left: Callable[[], float]) -> None:
        """Report the upstream token's remaining lifetime, read at scrape time."""
        self.token_expiry.set_function(seconds_left)

    def watch_breaker(self, state: Callable[[], float]) -> None:
        """Report the circuit breaker's state, read at scrape time."""
        self.breaker_state.set_function(state)

    def watch_readiness(self, up: Callable[[], float], age: Callable[[], float]) -> None:
        """Report readiness (1, 0 or NaN) and when it was last decided, read at scrape time.

        Args:
            up: 1, 0 or NaN.
            age: seconds since the last outcome (NaN before any).
        """
        self.upstream_ready.set_function(up)
        self.upstream_last_outcome.set_function(lambda: time.time() - age())

    def watch_cache(self, stats: CacheCounters, entries: Callable[[], int | None]) -> None:
        """Export the cache's plain-int counters, read at scrape time."""
        self.registry.register(_CacheCollector(stats, entries))


class _Latencies:
    """One route's latency histogram: a count per bucket (the last is +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)
        self.total = 0.0


class _RequestCollector(Collector):
    """``olcg_requests`` and ``olcg_request_duration_seconds``, kept as plain numbers.

    Both change on every request. A dict increment and a bisect cost a fraction
    of prometheus-client's child values, each behind a lock that a single event
    loop thread does not need; a scrape (on the same thread) reads the numbers.
    """

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self._bounds = buckets
        self._upper = [str(float(bound)) for bound in buckets] + [
            "+Inf"
        ]  # as prometheus-client writes `le`
        self._counts: dict[tuple[str, str, int, str], int] = {}
        self._latencies: dict[str, _Latencies] = {}

    def observe(self, route: str, method: str, status: int, client: str, seconds: float) -> None:
        key = (route, method, status, client)
        self._counts[key] = self._counts.get(key, 0) + 1
        latencies = self._latencies.get(route)
        if latencies is None:
            latencies = self._latencies[route] = _Latencies(len(self._bounds))
        # bisect_left: the first bucket whose upper bound is >= seconds, as `le` means.
        latencies.counts[bisect.bisect_left(self._bounds, seconds)] += 1
        latencies.total += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "olcg_requests",
            "Downstream requests by route template, method, status and client.",
            labels=["route", "method", "status", "client"],
        )
        for (route, method, status, client), count in self._counts.items():
            requests.add_metric([route, method, str(status), client], count)
        yield requests
        durations = HistogramMetricFamily(
            "olcg_request_duration_seconds",
            "Downstream request latency by route template.",
            labels=["route"],
        )
        for route, latencies in self._latencies.items():
            cumulative = 0
            buckets = []
            for upper, count in zip(self._upper, latencies.counts, strict=True):
                cumulative += count
                buckets.append((upper, float(cumulative)))
            durations.add_metric([route], buckets, sum_value=latencies.total)
        yield durations


class _BodyBytesCollector(Collector):
    """``olcg_body_bytes_total{direction}``: bytes streamed through the forwarder.

    Bumped once per chunk; plain ints read at scrape time, like the request counts.
    """

    def __init__(self) -> None:
        self.upload = 0
        self.download = 0

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "olcg_body_bytes",
            "Body bytes streamed by forwarded requests: upload (client to OL Connect), "
            "download (OL Connect to client).",
            labels=["direction"],
        )
        family.add_metric(["upload"], self.upload)
        family.add_metric(["download"], self.download)
        yield family


class _CacheCollector(Collector):
    """Reads the cache's counters on scrape so the hot path only bumps ints."""

    _COUNTERS = (
        ("hits", "Cached reads answered from a fresh entry (X-Cache: HIT)."),
        ("misses", "Cached reads answered by an upstream fetch (X-Cache: MISS), waiters included."),
        ("stale", "Expired entries served (stale-if-error or stale-while-revalidate)."),
        ("bypass", "Cached reads that skipped the cache (Cache-Control: no-cache)."),
        ("errors", "Cached reads that ended in an error (no usable entry)."),
        ("coalesced", "Cached reads that waited for another request's upstream fetch."),
        ("stores", "Entries written to the cache."),
        ("evictions", "Entries evicted to stay within cache.max_entries or .max_not_found."),
        ("backend_errors", "Failed cache backend operations, survived as misses."),
    )

    def __init__(self, stats: CacheCounters, entries: Callable[[], int | None]) -> None:
        self._stats = stats
        self._entries = entries

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for field, help_text in self._COUNTERS:
            yield CounterMetricFamily(f"olcg_cache_{field}", help_text, getattr(self._stats, field))
        count = self._entries()
        if count is not None:
            yield GaugeMetricFamily("olcg_cache_entries", "Entries in the cache.", count)
