"""`serve --workers N` as real processes: one /metrics for the whole gateway (SPEC §12.1),
the bound on N and a stop during start-up that really stops (SPEC §12.4)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import key_header
from processes import (  # *_fixture: imported so pytest finds them in this module
    UPSTREAM_ENV,
    Child,
    free_port,
    poll,
    sim_control_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
    wait_http,
    write_config,
)
from prometheus_client.parser import text_string_to_metric_families

from gateway.cli.workers import MAX_PER_CPU, usable_cpus
from gateway.edge.worker_metrics import SIBLING_TIMEOUT

SEGMENTS = "/rest/serverengine/entity/jobsegments"
ROUTE = SEGMENTS + "/{id}"
Samples = dict[str, list[tuple[dict[str, str], float]]]


def _true_if(condition: bool) -> bool | None:
    return True if condition else None


async def _async(value: Any) -> Any:
    return value


async def scrape(url: str) -> Samples:
    """One scrape of /metrics on a new connection: every sample by name."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for sample_labels, value in samples.get(name, [])
        if all(sample_labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture
async def two_workers(upstream: str, tmp_path: Path) -> AsyncIterator[tuple[Child, str]]:
    """`serve --workers 2` on the memory backend, both workers listening."""
    port = free_port()
    config = write_config(
        tmp_path / "gateway.yaml", port=port, upstream_port=int(upstream.rsplit(":", 1)[1])
    )
    child = Child(["serve", "--config", str(config), "--workers", "2"], tmp_path, UPSTREAM_ENV)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http(url + "/healthz", child)

        def listening() -> int:
            return len([e for e in child.log_events() if e["event"] == "gateway_listening"])

        await poll(lambda: _async(_true_if(listening() == 2)), 15, "two workers listening")
        yield child, url
    finally:
        child.kill()


async def test_workers_one_scrape_counts_every_request_of_every_worker(
    two_workers: tuple[Child, str], sim_control: aiohttp.ClientSession
) -> None:
    """N requests on N connections spread over two workers; one scrape, on whichever
    worker takes it, shows N, and so does every later scrape."""
    child, url = two_workers
    requests = 24
    for _ in range(requests):
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}{SEGMENTS}/3", headers=key_header()) as response,
        ):
            assert response.status == 200

    async def both_served() -> bool | None:
        lines = [e for e in child.log_events() if e["event"] == "request"]
        return _true_if(len(lines) >= requests)

    await poll(both_served, 10, "the access lines")
    workers = {e["worker"] for e in child.log_events() if e["event"] == "request"}
    assert workers == {0, 1}  # all on one worker: a 2**-23 chance

    for _ in range(6):  # new connections: the scrapes land on both workers
        samples = await scrape(url)
        assert total(samples, "olcg_requests_total", route=ROUTE) == requests
        assert total(samples, "olcg_request_duration_seconds_count", route=ROUTE) == requests
        cache = total(samples, "olcg_cache_hits_total") + total(samples, "olcg_cache_misses_total")
        assert cache == requests
        assert total(samples, "olcg_upstream_requests_total") == 2  # one miss per worker
        assert total(samples, "olcg_workers") == 2
        assert total(samples, "olcg_workers_reporting") == 2
        # Gauges that belong to one worker come once per worker, labelled.
        tokens = samples["olcg_upstream_token_expires_in_seconds"]
        assert sorted(labels["worker"] for labels, _ in tokens) == ["0", "1"]
        assert all(value > 0 for _, value in tokens)
        # Readiness is the gateway's latest upstream outcome: one series, no label.
        [(ready_labels, ready)] = samples["olcg_upstream_ready"]
        assert (ready_labels, ready) == ({}, 1.0)
        assert total(samples, "olcg_cache_entries") == 2  # one entry in each worker's cache
    async with sim_control.get("/_sim/calls") as response:
        assert (await response.json())["document_sets"] == 2


async def test_workers_scrape_survives_a_stopped_sibling(two_workers: tuple[Child, str]) -> None:
    """A sibling that does not answer is left out and counted as missing, quickly."""
    child, url = two_workers
    pids = {e["worker"]: e["pid"] for e in child.log_events() if e["event"] == "gateway_listening"}
    os.kill(pids[1], signal.SIGSTOP)  # stuck: the kernel takes connections, nobody answers

    async def scrape_reporting() -> float | None:
        timeout = aiohttp.ClientTimeout(total=SIBLING_TIMEOUT + 1.5)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url + "/metrics") as response,
            ):
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None  # this connection went to the stopped worker
        for family in text_string_to_metric_families(text):
            if family.name == "olcg_workers_reporting":
                return float(family.samples[0].value)
        raise AssertionError("no olcg_workers_reporting")

    try:
        started = time.monotonic()
        # Ten at once on new connections: all ten on the stopped worker is a 2**-10 chance.
        answers = await asyncio.gather(*(scrape_reporting() for _ in range(10)))
        assert {answer for answer in answers if answer is not None} == {1.0}
        assert time.monotonic() - started < SIBLING_TIMEOUT + 2
    finally:
        os.kill(pids[1], signal.SIGCONT)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdecimal():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
async def test_workers_stop_while_starting_stops_every_worker_in_time(
    upstream: str, tmp_path: Path, signum: signal.Signals
) -> None:
    """A stop signal sent as the first worker starts: the supervisor starts no more, every
    child exits, and the supervisor exits 0 within server.shutdown_timeout."""
    shutdown_timeout = 4.0
    workers = min(4, MAX_PER_CPU * usable_cpus())
    config = write_config(
        tmp_path / "gateway.yaml",
        port=free_port(),
        upstream_port=int(upstream.rsplit(":", 1)[1]),
        server={"shutdown_timeout": shutdown_timeout},
    )
    child = Child(
        ["serve", "--config", str(config), "--workers", str(workers)], tmp_path, UPSTREAM_ENV
    )
    supervisor = child.process.pid
    try:
        seen = await poll(
            lambda: _async(descendants(supervisor) or None), 15, "the first child process"
        )
        child.send(signum)
        stopped_at = time.monotonic()

        async def exited() -> int | None:
            seen.update(descendants(supervisor))
            return child.process.poll()

        code = await poll(exited, shutdown_timeout, "the supervisor to exit", interval=0.01)
        assert code == 0, child.stderr
        assert time.monotonic() - stopped_at < shutdown_timeout
        await poll(
            lambda: _async(_true_if(all(gone(pid) for pid in seen))),
            shutdown_timeout,
            "every child to exit",
        )
        assert "Traceback" not in child.stderr, child.stderr
    finally:
        child.kill()
        for pid in descendants(supervisor):
            os.kill(pid, signal.SIGKILL)


async def test_workers_stop_after_start_exits_0_and_logs_each_stop(
    two_workers: tuple[Child, str],
) -> None:
    """SIGINT to a running set stops every worker gracefully (each logs gateway_stopped)."""
    child, _url = two_workers
    child.send(signal.SIGINT)
    assert await child.exit_code() == 0
    events = child.log_events()
    assert len([e for e in events if e["event"] == "gateway_stopped"]) == 2
    assert [e["status"] for e in events if e["event"] == "gateway_workers_stopped"] == [0]


async def test_workers_sighup_while_starting_kills_no_worker(upstream: str, tmp_path: Path) -> None:
    """A SIGHUP (reload) that reaches workers still importing neither kills them nor prints
    a traceback: they come up and serve."""
    port = free_port()
    config = write_config(
        tmp_path / "gateway.yaml", port=port, upstream_port=int(upstream.rsplit(":", 1)[1])
    )
    child = Child(["serve", "--config", str(config), "--workers", "2"], tmp_path, UPSTREAM_ENV)
    try:
        await poll(
            lambda: _async(descendants(child.process.pid) or None), 15, "the first child process"
        )
        for _ in range(3):
            child.send(signal.SIGHUP)
            await asyncio.sleep(0)
        await wait_http(f"http://127.0.0.1:{port}/healthz", child)

        def listening() -> int:
            return len([e for e in child.log_events() if e["event"] == "gateway_listening"])

        await poll(lambda: _async(_true_if(listening() == 2)), 15, "two workers listening")
        assert "Traceback" not in child.stderr
        assert not [e for e in child.log_events() if e["event"] == "gateway_worker_died"]
    finally:
        child.kill()
