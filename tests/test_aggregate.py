"""Merging the workers' metrics (pure: snapshots in, exposition families out)."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.telemetry.aggregate import (
    Families,
    GaugeMerge,
    GaugeRule,
    merge,
    snapshot,
)
from gateway.telemetry.metrics import WORKER_MERGE, Metrics

RULES = {
    "entries": GaugeMerge(GaugeRule.SUM),
    "ready": GaugeMerge(GaugeRule.LATEST, latest_by="seen"),
    "seen": GaugeMerge(GaugeRule.MAX),
}


def worker(
    requests: int, entries: float, ready: float, seen: float, token: float
) -> CollectorRegistry:
    """One worker's registry with one metric of each kind and rule."""
    registry = CollectorRegistry()
    counter = Counter("requests", "h", ["route"], registry=registry)
    counter.labels("/a").inc(requests)
    histogram = Histogram("latency", "h", buckets=(0.1, 1), registry=registry)
    for _ in range(requests):
        histogram.observe(0.5)
    Gauge("entries", "h", registry=registry).set(entries)
    Gauge("ready", "h", registry=registry).set(ready)
    Gauge("seen", "h", registry=registry).set(seen)
    Gauge("token", "h", registry=registry).set(token)
    return registry


def exposed(
    registries: dict[int, CollectorRegistry],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The merged exposition, parsed back: value by (sample name, sorted labels)."""
    merged = merge({index: snapshot(r) for index, r in registries.items()}, RULES)
    text = generate_latest(Families(merged)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_aggregate_sums_counters_and_histograms_over_workers() -> None:
    """Counters and every histogram bucket, count and sum add up across workers."""
    samples = exposed({0: worker(3, 1, 1, 10, 50), 1: worker(4, 2, 0, 20, 60)})
    assert samples[("requests_total", (("route", "/a"),))] == 7
    assert samples[("latency_bucket", (("le", "1.0"),))] == 7
    assert samples[("latency_bucket", (("le", "0.1"),))] == 0
    assert samples[("latency_count", ())] == 7
    assert samples[("latency_sum", ())] == 3.5


def test_aggregate_created_is_the_earliest_not_a_sum() -> None:
    """A counter's `_created` timestamp is the earliest worker's."""
    first, second = worker(1, 0, 1, 1, 1), worker(1, 0, 1, 1, 1)
    created = [
        sample.value
        for r in (first, second)
        for metric in r.collect()
        for sample in metric.samples
        if sample.name == "requests_created"
    ]
    samples = exposed({0: first, 1: second})
    assert samples[("requests_created", (("route", "/a"),))] == min(created)


def test_aggregate_gauges_follow_their_rules() -> None:
    """SUM adds, LATEST takes the worker whose `latest_by` gauge is largest, MAX the largest,
    and an unlisted gauge is one series per worker with a `worker` label."""
    samples = exposed({0: worker(1, 5, 1, 100, 50), 1: worker(1, 7, 0, 200, 60)})
    assert samples[("entries", ())] == 12
    assert samples[("ready", ())] == 0  # worker 1 saw the latest outcome
    assert samples[("seen", ())] == 200
    assert samples[("token", (("worker", "0"),))] == 50
    assert samples[("token", (("worker", "1"),))] == 60
    assert ("token", ()) not in samples


def test_aggregate_nan_is_unknown_not_contagious() -> None:
    """A worker that has no value yet (NaN) neither poisons a sum nor wins LATEST."""
    samples = exposed({0: worker(1, math.nan, math.nan, math.nan, 0), 1: worker(1, 2, 1, 5, 0)})
    assert samples[("entries", ())] == 2
    assert samples[("ready", ())] == 1
    assert samples[("seen", ())] == 5
    nothing = exposed({0: worker(1, math.nan, math.nan, math.nan, 0)})
    assert math.isnan(nothing[("entries", ())])


def test_aggregate_rules_name_gauges_the_gateway_exports() -> None:
    """Every gauge WORKER_MERGE names (and every `latest_by`) is a gauge of `Metrics`."""
    metrics = Metrics(CollectorRegistry())
    gauges = {family.name for family in metrics.registry.collect() if family.type == "gauge"}
    named = set(WORKER_MERGE) | {rule.latest_by for rule in WORKER_MERGE.values() if rule.latest_by}
    # olcg_cache_entries comes from the cache's collector, registered with the cache.
    assert named - {"olcg_cache_entries"} <= gauges
