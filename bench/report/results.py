"""The results of a run: samples by scenario, target and round, and the scenario-specific ones."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.clients.load import Sample

MIB = 1024 * 1024


@dataclass(frozen=True)
class Storm:
    """One miss storm against one target."""

    calls: int
    answered: int
    statuses: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_json(cls, line: str, calls: int) -> Storm:
        data: dict[str, Any] = json.loads(line)
        return cls(
            calls,
            data["answered"],
            data["statuses"],
            data["p50_ms"],
            data["p99_ms"],
            data["max_ms"],
        )


@dataclass(frozen=True)
class Memory:
    """The gateway after filling its cache past ``max_entries``."""

    requests: int
    errors: int
    seconds: float
    rss_before_mb: float
    rss_after_mb: float
    entries_final: int
    entries_max: int


@dataclass
class Results:
    """Every sample of a run, by scenario, target and round."""

    runs: dict[tuple[str, str], dict[int, Sample]] = field(default_factory=dict)
    storms: dict[str, list[Storm]] = field(default_factory=dict)
    memory: Memory | None = None
    half: str | None = None  # the name of scenario a' (it holds the rate)
    streams: list[StreamRun] = field(default_factory=list)
    day: list[DayRun] = field(default_factory=list)
    waits: list[WaitRun] = field(default_factory=list)

    def add(self, scenario: str, target: str, round_no: int, sample: Sample) -> None:
        self.runs.setdefault((scenario, target), {})[round_no] = sample

    def samples(self, scenario: str, target: str) -> list[Sample]:
        return list(self.runs.get((scenario, target), {}).values())

    def ratio(self, scenario: str, top: str, bottom: str, attr: str = "rps") -> float | None:
        """Median over rounds of top / bottom (``attr``, requests/s by default), per round."""
        a, b = self.runs.get((scenario, top)), self.runs.get((scenario, bottom))
        if not a or not b:
            return None
        ratios = [
            getattr(a[r], attr) / getattr(b[r], attr)
            for r in a
            if r in b and getattr(b[r], attr) > 0
        ]
        return statistics.median(ratios) if ratios else None


@dataclass(frozen=True)
class StreamRun:
    """One large transfer through one target."""

    direction: str  # download | upload
    target: str
    round_no: int
    size: int
    seconds: float
    cpu_seconds: float  # the target's own CPU time during the transfer
    rss_growth_mb: float  # highest RSS seen during it, over the target's RSS at the start
    ok: bool  # 200, and every byte moved

    @property
    def mib_s(self) -> float:
        return self.size / MIB / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class DayRun:
    """One replay of the integrator's day against one target."""

    target: str  # direct | gateway
    tasks: int
    requests: int
    errors: int
    relogins: int
    distinct_reads: int  # entity paths the client read at least once
    p50_ms: float
    p99_ms: float
    seconds: float
    upstream: dict[str, int]  # calls the simulator saw during the replay: logins, reads, …

    @property
    def upstream_calls(self) -> int:
        return sum(self.upstream.values())


@dataclass(frozen=True)
class WaitRun:
    """Clients on running operations through the gateway for a while (scenario o)."""

    mode: str  # waiters (Prefer: wait and events) | pollers (their own getProgress loops)
    clients: int
    operations: int
    seconds: float
    interval: float  # the gateway's operations.poll_interval
    upstream_polls: int  # getProgress calls the simulator saw meanwhile
    answered: int
    errors: int
    rss_growth_mb: float  # the gateway's highest RSS over its RSS before the phase

    @property
    def polls_per_interval(self) -> float:
        """Upstream polls per operation per poll interval."""
        intervals = self.seconds / self.interval
        return self.upstream_polls / self.operations / intervals if intervals else 0.0

    @property
    def poll_bound(self) -> int:
        """The most polls one poll per interval allows in the phase, all operations."""
        return self.operations * (int(self.seconds / self.interval) + 1)


def stream_runs(results: Results, direction: str, target: str) -> list[StreamRun]:
    """The transfers of one direction through one target, in round order."""
    return [s for s in results.streams if s.direction == direction and s.target == target]


def stream_ratio(results: Results, direction: str, top: str, bottom: str) -> float | None:
    """Median over rounds of top / bottom MiB/s, each ratio taken within one round."""
    below = {s.round_no: s.mib_s for s in stream_runs(results, direction, bottom)}
    ratios = [
        s.mib_s / below[s.round_no]
        for s in stream_runs(results, direction, top)
        if below.get(s.round_no)
    ]
    return statistics.median(ratios) if ratios else None
