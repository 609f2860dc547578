"""Smoke tests of the benchmark harness: each scenario runs tiny and prints its rows and
verdict lines (no speed asserted; only facts that hold at any speed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.clients import day
from gateway.simulator.model.data import DataSet
from gateway.simulator.model.entities import Entities, Family

ROOT = Path(__file__).resolve().parent.parent
# Every run: one short round, the Python load generator, no nginx (CI may lack it).
TINY = ["--rounds", "1", "--duration", "0.3", "-c", "4", "--warmup", "0"]
TINY += ["--loader", "python", "--no-nginx"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _run_module(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m module args…` from the checkout; fails the test unless it exits 0."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _row(out: str, scenario: str, target: str) -> list[str]:
    """The cells of the table row of `scenario` (a prefix) and `target`."""
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 7 and cells[0].startswith(scenario) and cells[1] == target:
            return cells
    raise AssertionError(f"no row {scenario!r} / {target!r} in:\n{out}")


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def test_bench_prints_its_table_and_leaves_no_process() -> None:
    """The cached-read scenarios print table and verdicts, then the run stops its children."""
    tiny = [*TINY, "--scenarios", "cached", "--ids", "50", "--entries", "200", "--storm", "20"]
    done = _run_module("bench", *tiny, timeout=60)
    out = done.stdout
    assert "| scenario | target | req/s | p50 ms | p99 ms | CPU µs/req | notes |" in out
    for row in ("a: hit, one id | gateway", "a: hit, one id | bare-aiohttp", "d: miss storm"):
        assert row in out
    hit_row = next(line for line in out.splitlines() if "a: hit, one id | gateway" in line)
    assert float(hit_row.split("|")[6]) > 0  # the gateway's CPU per request was measured
    assert "CPU per request, bare-aiohttp / gateway" in out
    assert "e: memory" in out
    assert "hit path: bare aiohttp's CPU per request" in out
    assert "miss storm (gateway)" in out
    pids_line = next(line for line in out.splitlines() if line.startswith("# stopped pids:"))
    pids = [int(pid) for pid in pids_line.split(":")[1].split()]
    assert len(pids) == 3  # simulator, gateway, bare aiohttp
    assert not [pid for pid in pids if _alive(pid)]


def test_bench_forwarded_and_streams_move_every_byte() -> None:
    """Forwarded requests are measured per target, and 8 MiB streams move every byte."""
    tiny = [*TINY, "--scenarios", "forwarded,streams", "--stream-mib", "8", "--stream-rounds", "1"]
    out = _run_module("bench", *tiny, timeout=60).stdout
    for scenario in ("f: forwarded GET getProgress", "f: forwarded PUT job properties"):
        for target in ("gateway", "bare-aiohttp-proxy", "direct"):
            cells = _row(out, scenario, target)
            assert _number(cells[2]) > 0, cells  # req/s
            assert _number(cells[5]) > 0, cells  # the target's CPU per request
            assert "errors" not in cells[6], cells
        assert f"SKIP  {scenario[3:]}: no nginx to compare with" in out
    for direction in ("download", "upload"):
        for target in ("gateway", "bare-aiohttp-proxy", "direct"):
            cells = _row(out, f"s: {direction} 8 MiB", target)
            assert "MiB/s" in cells[6], cells
            assert "FAILED" not in cells[6], cells  # status 200 and all 8 MiB moved
        assert f"stream {direction}: gateway RSS growth" in out


def test_bench_integrators_day_counts_upstream_calls() -> None:
    """The same tasks replayed direct and through the gateway: every direct request reaches
    the simulator, the gateway logs in upstream once, and nothing fails either way."""
    tiny = [*TINY, "--scenarios", "day", "--day-tasks", "20", "--day-apps", "4"]
    out = _run_module("bench", *tiny, timeout=60).stdout
    direct = _row(out, "i: integrator's day, 20 tasks", "direct")[6]
    gateway = _row(out, "i: integrator's day, 20 tasks", "gateway")[6]
    requests = re.compile(r"^([\d,]+) requests in .*, 0 errors, ")
    calls = re.compile(r"upstream calls ([\d,]+): logins ([\d,]+), ")
    direct_requests, gateway_requests = requests.search(direct), requests.search(gateway)
    direct_calls, gateway_calls = calls.search(direct), calls.search(gateway)
    assert direct_requests, direct
    assert gateway_requests, gateway
    assert direct_calls, direct
    assert gateway_calls, gateway
    assert direct_requests.group(1) == gateway_requests.group(1)  # the same replay
    assert direct_calls.group(1) == direct_requests.group(1)
    assert direct_calls.group(2) == "20"  # one login per task
    assert gateway_calls.group(2) == "1"  # the gateway's own login, once
    assert "integrator's day: upstream calls" in out
    assert "integrator's day: errors 0 through the gateway, 0 direct" in out


@pytest.mark.slow  # two `serve --workers` fleets and their loaders: ~15-30 s on two cores
def test_bench_scale_out_measures_one_and_two_workers() -> None:
    """`serve --workers 1` and `--workers 2` (memory, and Redis with and without the near cache)
    are driven, their CPU counted over all workers, and the Redis targets judged."""
    out = _run_module("bench", *TINY, "--scenarios", "scale", timeout=60).stdout
    targets = ["gateway --workers 1", "gateway --workers 2"]
    if shutil.which("redis-server") is not None:
        targets += ["gateway --workers 2, redis", "gateway --workers 2, redis, near_ttl 0"]
    for target in targets:
        cells = _row(out, "w: hit, one id, load pinned to CPU 0", target)
        assert _number(cells[2]) > 0, cells
        assert _number(cells[5]) > 0, cells
    assert "INFO  scale-out: --workers 2 serves" in out
    if shutil.which("redis-server") is not None:
        # The Redis figures beside memory, judged (issue 21 item 4); speed is not asserted.
        assert re.search(r"(PASS|FAIL)  scale-out on Redis: --workers 2 on Redis serves", out)
        assert re.search(r"(PASS|FAIL)  Redis-backed hit: [0-9.]+x the CPU of a memory hit", out)


def test_day_tasks_are_repeatable_and_name_entities_of_their_job_set() -> None:
    """The same arguments give the same tasks, and every id a task derives exists under its
    job set in the simulator's model."""
    tasks = day.tasks(200, 250)
    assert tasks == day.tasks(200, 250)
    assert {task.kind for task in tasks} == set(day.Kind)
    entities = Entities(DataSet(1000))
    for task in tasks:
        assert task.job in entities.children(Family.JOBSETS, task.job_set)
        assert task.segment in entities.children(Family.JOBS, task.job)
        document_sets = entities.children(Family.JOBSEGMENTS, task.segment)
        owner = next(d for d in document_sets if task.document // 10 == d)
        assert task.document in entities.children(Family.DOCUMENTSETS, owner)


@pytest.mark.slow  # Python under valgrind: ~40 s alone, minutes on a busy machine
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.timeout(120)  # two uninstrumented start-ups under valgrind, side by side
def test_bench_icount_counts_the_instructions_of_a_hit() -> None:
    """Under callgrind a gateway hit costs more than a bare aiohttp hit, each within the range
    CPython and aiohttp put it in, and two windows of the same target agree: a count that took
    in the start-up, counted nothing or mixed up its windows fails one of these."""
    args = ["--warmup", "20", "--hits", "150", "--windows", "2"]
    out = _run_module("bench.icount", *args, timeout=120).stdout
    rows = re.findall(
        r"^  (gateway|bare-aiohttp) +([\d,]+)   windows within ([\d.]+)%$", out, re.MULTILINE
    )
    counts = {target: int(count.replace(",", "")) for target, count, _ in rows}
    assert set(counts) == {"gateway", "bare-aiohttp"}, out
    assert 100_000 <= counts["bare-aiohttp"] <= 400_000, out  # ~180k on CPython 3.11
    assert counts["bare-aiohttp"] < counts["gateway"] <= 1_000_000, out  # ~350k
    assert all(float(spread) <= 10.0 for _, _, spread in rows), out  # ~1-4% at 150 hits
    assert "bare-aiohttp / gateway:" in out


def test_bench_waiting_polls_each_operation_once_per_interval() -> None:
    """Scenario o, tiny: waiters (Prefer: wait and event streams) cost at most one upstream
    poll per operation per interval and all get answers; the same clients polling cost more."""
    tiny = [*TINY, "--scenarios", "waiting", "--waiters", "40", "--wait-seconds", "2"]
    out = _run_module("bench", *tiny, timeout=60).stdout
    waiters = _row(out, "o: 40 clients on 10 operations, Prefer: wait + events", "gateway")[6]
    pollers = _row(out, "o: 40 clients on 10 operations, polling every 1 s", "gateway")[6]
    assert "40 answered, 0 errors" in waiters, waiters
    assert "40 answered, 0 errors" in pollers, pollers
    assert re.search(r"PASS  waiting: 40 clients on 10 operations cost .* 0 errors", out), out
    assert "waiting: gateway RSS growth" in out
    per_interval = re.compile(r"upstream polls ([\d.]+) per operation")
    waited = per_interval.search(waiters)
    polled = per_interval.search(pollers)
    assert waited, waiters
    assert polled, pollers
    assert float(polled.group(1)) > float(waited.group(1))
