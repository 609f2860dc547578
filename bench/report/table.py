"""The one table printed from a run's results, then the per-core sizing and the verdicts."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Iterator

import aiohttp

from bench.clients.load import Sample
from bench.report.results import MIB, Results, stream_ratio, stream_runs
from bench.report.verdicts import HIT, targets

# Ratio rows: (scenario prefix, top, bottom); taken per round, median printed.
RATIOS = (
    ("a:", "gateway", "bare-aiohttp"),
    ("a:", "gateway", "nginx"),
    ("b:", "gateway", "nginx"),
    ("c:", "gateway", "nginx"),
    ("f:", "gateway", "nginx"),
    ("f:", "bare-aiohttp-proxy", "nginx"),
    ("f:", "gateway", "bare-aiohttp-proxy"),
    ("w:", "gateway --workers 2", "gateway --workers 1"),
    ("w:", "gateway --workers 2, redis", "gateway --workers 1"),
    ("w:", "gateway --workers 2, redis, near_ttl 0", "gateway --workers 1"),
)
# CPU-per-request rows: (scenario prefix, top, bottom).
CPU_RATIOS = (
    ("a:", "bare-aiohttp", "gateway"),
    ("w:", "gateway --workers 2, redis", "gateway --workers 2"),
    ("w:", "gateway --workers 2, redis, near_ttl 0", "gateway --workers 2"),
)


def _median(samples: list[Sample], attr: str) -> float:
    return float(statistics.median(getattr(s, attr) for s in samples))


def render(results: Results, *, loop: str, loader: str, settings: dict[str, object]) -> str:
    """The table (markdown), the sizing lines, then one PASS/FAIL line per target."""
    lines = [
        "",
        f"machine: {len(os.sched_getaffinity(0))} cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, loop {loop}, "
        f"load {loader}",
        "",
        "| scenario | target | req/s | p50 ms | p99 ms | CPU µs/req | notes |",
        "|---|---|---:|---:|---:|---:|---|",
        *_sample_rows(results),
        *_ratio_rows(results),
        *_storm_rows(results, settings),
        *_stream_rows(results, settings),
        *_day_rows(results),
        *_wait_rows(results),
        "",
        *_sizing(results),
        "",
        *targets(results, settings),
    ]
    return "\n".join(lines)


def _sample_rows(results: Results) -> Iterator[str]:
    for (scenario, target), by_round in results.runs.items():
        samples = list(by_round.values())
        errors = sum(s.errors for s in samples)
        note = f"{errors} errors" if errors else ""
        yield (
            f"| {scenario} | {target} | {_median(samples, 'rps'):,.0f} | "
            f"{_median(samples, 'p50_ms'):.2f} | {_median(samples, 'p99_ms'):.2f} | "
            f"{_median(samples, 'cpu_us'):.1f} | {note} |"
        )


def _ratio_rows(results: Results) -> Iterator[str]:
    for scenario in dict.fromkeys(s for s, _ in results.runs):
        for prefix, top, bottom in RATIOS:
            if not scenario.startswith(prefix):
                continue
            value = results.ratio(scenario, top, bottom)
            if value is not None:
                yield (
                    f"| ratio (median per round) | {scenario}: {top} / {bottom} "
                    f"| {value:.2f}x | | | | |"
                )
        for prefix, top, bottom in CPU_RATIOS:
            if not scenario.startswith(prefix) or (prefix == "a:" and scenario != HIT):
                continue
            cpu = results.ratio(scenario, top, bottom, "cpu_us")
            if cpu is not None:
                yield (
                    f"| ratio (median per round) | {scenario}: CPU per request, "
                    f"{top} / {bottom} | {cpu:.2f}x | | | | |"
                )


def _storm_rows(results: Results, settings: dict[str, object]) -> Iterator[str]:
    for target, storms in results.storms.items():
        calls = max(s.calls for s in storms)
        answered = min(s.answered for s in storms)
        statuses = ", ".join(sorted({f"{k}x{v}" for s in storms for k, v in s.statuses.items()}))
        yield (
            f"| d: miss storm, {settings['storm']} waiters, upstream 50 ms | {target} | | "
            f"{statistics.median(s.p50_ms for s in storms):.1f} | "
            f"{statistics.median(s.p99_ms for s in storms):.1f} | | "
            f"upstream calls ≤ {calls} in each of {len(storms)} storms, "
            f"answered {answered}, {statuses} |"
        )
    memory = results.memory
    if memory is not None:
        yield (
            f"| e: memory, {settings['entries']:,} max_entries | gateway | | | | | "
            f"RSS {memory.rss_before_mb:.0f} → {memory.rss_after_mb:.0f} MB after "
            f"{memory.requests:,} distinct ids in {memory.seconds:.0f} s ({memory.errors} errors); "
            f"entries {memory.entries_final:,} (max seen {memory.entries_max:,}) |"
        )


def _stream_rows(results: Results, settings: dict[str, object]) -> Iterator[str]:
    size = f"{settings['stream_mib']} MiB"
    targets_seen = list(dict.fromkeys(s.target for s in results.streams))
    for direction in ("download", "upload"):
        for target in targets_seen:
            runs = stream_runs(results, direction, target)
            if not runs:
                continue
            rate = statistics.median(r.mib_s for r in runs)
            cpu_ms = statistics.median(r.cpu_seconds * 1000 / (r.size / MIB) for r in runs)
            growth = max(r.rss_growth_mb for r in runs)
            failed = sum(not r.ok for r in runs)
            yield (
                f"| s: {direction} {size} | {target} | | | | | {rate:,.0f} MiB/s, "
                f"CPU {cpu_ms:.2f} ms/MiB, RSS growth ≤ {growth:.0f} MB over {len(runs)} "
                f"transfers{f', {failed} FAILED' if failed else ''} |"
            )
        for top, bottom in (
            ("gateway", "nginx"),
            ("bare-aiohttp-proxy", "nginx"),
            ("gateway", "bare-aiohttp-proxy"),
        ):
            value = stream_ratio(results, direction, top, bottom)
            if value is not None:
                yield (
                    f"| ratio (median per round) | s: {direction} {size}: {top} / {bottom} "
                    f"MiB/s | {value:.2f}x | | | | |"
                )


def _day_rows(results: Results) -> Iterator[str]:
    for run in results.day:
        rate = run.requests / run.seconds if run.seconds > 0 else 0.0
        yield (
            f"| i: integrator's day, {run.tasks} tasks | {run.target} | {rate:,.0f} | "
            f"{run.p50_ms:.2f} | {run.p99_ms:.2f} | | {run.requests:,} requests in "
            f"{run.seconds:.1f} s, {run.errors} errors, {run.relogins} re-logins, "
            f"{run.distinct_reads:,} distinct entities read; upstream calls "
            f"{run.upstream_calls:,}: "
            + ", ".join(f"{k} {v:,}" for k, v in run.upstream.items())
            + " |"
        )


def _wait_rows(results: Results) -> Iterator[str]:
    for run in results.waits:
        how = "Prefer: wait + events" if run.mode == "waiters" else "polling every 1 s"
        yield (
            f"| o: {run.clients:,} clients on {run.operations} operations, {how} | gateway "
            f"| | | | | upstream polls {run.polls_per_interval:.2f} per operation per "
            f"{run.interval:g} s ({run.upstream_polls:,} in {run.seconds:.1f} s), RSS growth "
            f"{run.rss_growth_mb:.1f} MB, {run.answered:,} answered, {run.errors} errors |"
        )


def _sizing(results: Results) -> Iterator[str]:
    """Per core of gateway CPU: what one core serves, from the measured CPU per request."""
    lines = []
    for (scenario, target), by_round in results.runs.items():
        if target == "gateway" and not scenario.startswith("a'"):
            cpu = _median(list(by_round.values()), "cpu_us")
            if cpu > 0:
                lines.append(f"  {scenario}: {1e6 / cpu:,.0f} requests/s")
    for direction in ("download", "upload"):
        runs = stream_runs(results, direction, "gateway")
        if runs:
            per_mib = statistics.median(r.cpu_seconds / (r.size / MIB) for r in runs)
            if per_mib > 0:
                lines.append(f"  s: {direction}: {1 / per_mib:,.0f} MiB/s")
    if lines:
        yield "per core of gateway CPU (1 s / CPU time per request or per MiB):"
        yield from lines
