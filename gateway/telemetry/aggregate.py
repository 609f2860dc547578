"""One `/metrics` for `serve --workers N`: every worker's samples, merged at scrape time.

Each worker keeps its metrics as it does alone (plain numbers, no locks, no
shared memory on the request path). The worker that takes a scrape reads its
siblings' snapshots and merges them: counters and histograms are summed, a
``_created`` sample is the earliest, and each gauge follows the rule its
metric declares (`GaugeRule`) — one series per worker, with a ``worker``
label, unless summing or taking the latest makes more sense.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

WORKER_LABEL = "worker"
# A family as it travels between workers: name, help, type, and (sample name, labels, value)s.
Family = dict[str, Any]


class GaugeRule(enum.Enum):
    """How the workers' values of one gauge become the gateway's."""

    PER_WORKER = "per_worker"  # one series per worker, labelled worker="<index>"
    SUM = "sum"  # the sum over the workers (NaN values left out)
    MAX = "max"  # the largest value (NaN values left out)
    LATEST = "latest"  # the value of the worker whose `latest_by` gauge is the largest


@dataclass(frozen=True, slots=True)
class GaugeMerge:
    """A gauge's rule; for LATEST, the gauge (a timestamp) that says which worker is latest."""

    rule: GaugeRule
    latest_by: str = ""


@dataclass(frozen=True, slots=True)
class WorkerSet:
    """Where a worker of `serve --workers N` stands among its siblings.

    Args:
        index: this worker's number, 0..count-1 (the ``worker`` label).
        count: how many workers the supervisor runs.
        address: the base of the siblings' private socket addresses (see `socket`).
    """

    index: int
    count: int
    address: str

    def socket(self, index: int) -> str:
        """The Unix socket on which worker `index` answers its siblings."""
        return f"{self.address}-{index}.sock"

    def others(self) -> list[int]:
        """The indices of every other worker."""
        return [index for index in range(self.count) if index != self.index]


def snapshot(registry: CollectorRegistry) -> list[Family]:
    """Every family of `registry` as plain data (JSON-ready; NaN and infinities kept)."""
    return [
        {
            "name": metric.name,
            "help": metric.documentation,
            "type": metric.type,
            "samples": [[s.name, s.labels, s.value] for s in metric.samples],
        }
        for metric in registry.collect()
    ]


def merge(
    snapshots: Mapping[int, Sequence[Family]], rules: Mapping[str, GaugeMerge]
) -> list[Metric]:
    """The families of every worker (by worker index) merged into the gateway's.

    Args:
        snapshots: each answering worker's `snapshot`.
        rules: how each gauge merges; a gauge not listed gets one series per worker.
    """
    families: dict[str, tuple[Family, dict[int, Family]]] = {}
    for worker, worker_families in sorted(snapshots.items()):
        for family in worker_families:
            first, by_worker = families.setdefault(family["name"], (family, {}))
            by_worker[worker] = family
    latest = _latest_workers(families, rules)
    merged = []
    for name, (first, by_worker) in families.items():
        metric = Metric(name, first["help"], first["type"])
        if first["type"] == "gauge":
            rule = rules.get(name, GaugeMerge(GaugeRule.PER_WORKER))
            _merge_gauge(metric, by_worker, rule, latest.get(rule.latest_by))
        elif first["type"] in ("counter", "histogram", "summary"):
            _sum_samples(metric, by_worker.values())
        else:  # info, stateset, unknown: nothing to add up
            _per_worker(metric, by_worker)
        merged.append(metric)
    return merged


class Families:
    """A collector that yields fixed families: what `generate_latest` takes."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _sum_samples(metric: Metric, families: Iterable[Family]) -> None:
    """Counters and histograms add up; a ``_created`` timestamp is the earliest."""
    totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    labels_of: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}
    for family in families:
        for name, labels, value in family["samples"]:
            key = (name, _key(labels))
            labels_of.setdefault(key, labels)
            if key not in totals:
                totals[key] = value
            elif name.endswith("_created"):
                totals[key] = min(totals[key], value)
            else:
                totals[key] += value
    for key, value in totals.items():
        metric.add_sample(key[0], labels_of[key], value)


def _per_worker(metric: Metric, by_worker: Mapping[int, Family]) -> None:
    for worker, family in by_worker.items():
        for name, labels, value in family["samples"]:
            metric.add_sample(name, {**labels, WORKER_LABEL: str(worker)}, value)


def _merge_gauge(
    metric: Metric, by_worker: Mapping[int, Family], rule: GaugeMerge, latest: int | None
) -> None:
    if rule.rule is GaugeRule.PER_WORKER:
        _per_worker(metric, by_worker)
        return
    if rule.rule is GaugeRule.LATEST:
        chosen = by_worker.get(latest) if latest is not None else None
        family = chosen if chosen is not None else next(iter(by_worker.values()))
        for name, labels, value in family["samples"]:
            metric.add_sample(name, labels, value)
        return
    values: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    labels_of: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}
    for family in by_worker.values():
        for name, labels, value in family["samples"]:
            key = (name, _key(labels))
            labels_of.setdefault(key, labels)
            values.setdefault(key, [])
            if not math.isnan(value):
                values[key].append(value)
    combine = sum if rule.rule is GaugeRule.SUM else max
    for key, known in values.items():
        metric.add_sample(key[0], labels_of[key], float(combine(known)) if known else math.nan)


def _latest_workers(
    families: Mapping[str, tuple[Family, dict[int, Family]]], rules: Mapping[str, GaugeMerge]
) -> dict[str, int]:
    """For each gauge named by a LATEST rule, the worker whose (first) value is largest."""
    latest: dict[str, int] = {}
    for rule in rules.values():
        if rule.rule is not GaugeRule.LATEST or rule.latest_by not in families:
            continue
        best = -math.inf
        for worker, family in families[rule.latest_by][1].items():
            samples = family["samples"]
            value = samples[0][2] if samples else math.nan
            if not math.isnan(value) and value > best:
                best, latest[rule.latest_by] = value, worker
    return latest
