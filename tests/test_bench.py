"""Smoke test of the benchmark harness: it runs and prints its table (no speed asserted)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


def test_bench_prints_its_table_and_leaves_no_process() -> None:
    """A tiny run (Python loader, no nginx) prints table and verdicts, then stops its children."""
    tiny = ["--rounds", "1", "--duration", "0.3", "-c", "4", "--ids", "50", "--warmup", "0"]
    tiny += ["--entries", "200", "--storm", "20", "--loader", "python", "--no-nginx"]
    done = _run_module("bench", *tiny, timeout=60)
    out = done.stdout
    assert "| scenario | target | req/s | p50 ms | p99 ms | CPU µs/req | notes |" in out
    for row in ("a: hit, one id | gateway", "a: hit, one id | bare-aiohttp", "d: miss storm"):
        assert row in out
    hit_row = next(line for line in out.splitlines() if "a: hit, one id | gateway" in line)
    assert float(hit_row.split("|")[6]) > 0  # the gateway's CPU per request was measured
    assert "CPU per request, bare-aiohttp / gateway" in out
    assert "e: memory" in out
    assert "hit throughput" in out
    assert "miss storm (gateway)" in out
    pids_line = next(line for line in out.splitlines() if line.startswith("# stopped pids:"))
    pids = [int(pid) for pid in pids_line.split(":")[1].split()]
    assert len(pids) == 3  # simulator, gateway, bare aiohttp
    assert not [pid for pid in pids if _alive(pid)]


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.timeout(240)  # four Python start-ups under valgrind, two at a time
def test_bench_icount_prints_instructions_per_hit() -> None:
    """A tiny instruction count under callgrind prints a positive count per target and the ratio."""
    done = _run_module("bench.icount", "--few", "1", "--many", "3", timeout=240)
    counts = dict(re.findall(r"^  (gateway|bare-aiohttp) +([\d,]+)$", done.stdout, re.MULTILINE))
    assert set(counts) == {"gateway", "bare-aiohttp"}, done.stdout
    assert all(int(value.replace(",", "")) > 0 for value in counts.values())
    assert "bare-aiohttp / gateway:" in done.stdout
