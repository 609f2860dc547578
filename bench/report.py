"""The results of a run and the one table (plus PASS/FAIL against the targets) printed from them."""

from __future__ import annotations

import json
import platform
import statistics
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.load import Sample

HIT = "a: hit, one id"
HIT_RATIO_TARGET = 0.85
P99_SLACK_MS = 1.0
STORM_UPSTREAM_MS = 50.0
STORM_SLACK_MS = {"gateway": 100.0, "nginx": 450.0}


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


def _median(samples: list[Sample], attr: str) -> float:
    return float(statistics.median(getattr(s, attr) for s in samples))


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def render(
    results: Results,
    *,
    half: str,
    loop: str,
    loader: str,
    storm_n: int,
    max_entries: int,
    memory_limit: float,
) -> str:
    """The table (markdown), then one PASS/FAIL line per target."""
    rows = [
        "| scenario | target | req/s | p50 ms | p99 ms | CPU µs/req | notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for (scenario, target), by_round in results.runs.items():
        samples = list(by_round.values())
        errors = sum(s.errors for s in samples)
        note = f"{errors} errors" if errors else ""
        rows.append(
            f"| {scenario} | {target} | {_median(samples, 'rps'):,.0f} | "
            f"{_median(samples, 'p50_ms'):.2f} | {_median(samples, 'p99_ms'):.2f} | "
            f"{_median(samples, 'cpu_us'):.1f} | {note} |"
        )
    ratios: list[tuple[str, float | None]] = []
    for scenario in dict.fromkeys(s for s, _ in results.runs):
        if scenario == HIT:
            ratios.append(
                (
                    f"{scenario}: gateway / bare-aiohttp",
                    results.ratio(HIT, "gateway", "bare-aiohttp"),
                )
            )
            ratios.append(
                (
                    f"{scenario}: CPU per request, bare-aiohttp / gateway",
                    results.ratio(HIT, "bare-aiohttp", "gateway", "cpu_us"),
                )
            )
        if not scenario.startswith("a'"):
            ratios.append(
                (f"{scenario}: gateway / nginx", results.ratio(scenario, "gateway", "nginx"))
            )
    for label, value in ratios:
        if value is not None:
            rows.append(f"| ratio (median per round) | {label} | {value:.2f}x | | | | |")
    for target, storms in results.storms.items():
        calls = max(s.calls for s in storms)
        answered = min(s.answered for s in storms)
        statuses = ", ".join(sorted({f"{k}x{v}" for s in storms for k, v in s.statuses.items()}))
        rows.append(
            f"| d: miss storm, {storm_n} waiters, upstream 50 ms | {target} | | "
            f"{statistics.median(s.p50_ms for s in storms):.1f} | "
            f"{statistics.median(s.p99_ms for s in storms):.1f} | | "
            f"upstream calls ≤ {calls} in each of {len(storms)} storms, "
            f"answered {answered}, {statuses} |"
        )
    memory = results.memory
    if memory is not None:
        rows.append(
            f"| e: memory, {max_entries:,} max_entries | gateway | | | | | "
            f"RSS {memory.rss_before_mb:.0f} → {memory.rss_after_mb:.0f} MB after "
            f"{memory.requests:,} distinct ids in {memory.seconds:.0f} s ({memory.errors} errors); "
            f"entries {memory.entries_final:,} (max seen {memory.entries_max:,}) |"
        )
    lines = [
        "",
        f"machine: {_cores()} cores, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, loop {loop}, load {loader}",
        "",
        *rows,
        "",
        *_targets(results, half, max_entries, memory_limit),
    ]
    return "\n".join(lines)


def _targets(results: Results, half: str, max_entries: int, memory_limit: float) -> list[str]:
    lines = []
    ratio = results.ratio(HIT, "gateway", "bare-aiohttp")
    if ratio is not None:
        cpu = results.ratio(HIT, "bare-aiohttp", "gateway", "cpu_us")
        by_cpu = f"; by CPU per request {cpu:.2f}x" if cpu is not None else ""
        lines.append(
            f"{_verdict(ratio >= HIT_RATIO_TARGET)}  hit throughput {ratio:.2f}x bare aiohttp "
            f"(target ≥ {HIT_RATIO_TARGET}x{by_cpu})"
        )
    gw, bare = results.samples(half, "gateway"), results.samples(half, "bare-aiohttp")
    if gw and bare:
        gw99, bare99 = _median(gw, "p99_ms"), _median(bare, "p99_ms")
        lines.append(
            f"{_verdict(gw99 <= bare99 + P99_SLACK_MS)}  hit p99 at half the peak rate "
            f"{gw99:.2f} ms vs bare {bare99:.2f} ms (target ≤ bare + {P99_SLACK_MS:g} ms)"
        )
    for target, storms in results.storms.items():
        calls = {s.calls for s in storms}
        p99 = statistics.median(s.p99_ms for s in storms)
        limit = STORM_UPSTREAM_MS + STORM_SLACK_MS.get(target, 100.0)
        ok = (
            calls == {1} and p99 <= limit and all(s.statuses == {"200": s.answered} for s in storms)
        )
        verdict = _verdict(ok) if target == "gateway" else "INFO"  # nginx: the reference
        lines.append(
            f"{verdict}  miss storm ({target}): upstream calls per storm {sorted(calls)}, "
            f"waiters' p99 {p99:.1f} ms (target exactly 1 call, p99 ≤ {limit:g} ms)"
        )
    memory = results.memory
    if memory is not None:
        ok = memory.rss_after_mb <= memory_limit and memory.entries_max <= max_entries
        lines.append(
            f"{_verdict(ok)}  memory: RSS {memory.rss_after_mb:.0f} MB with "
            f"{memory.entries_final:,} entries, max seen {memory.entries_max:,} "
            f"(target ≤ {memory_limit:g} MB, ≤ {max_entries:,} entries)"
        )
    return lines


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))
