"""deploy/prometheus/alerts.yaml and deploy/grafana/olconnect-gateway.json, for real.

promtool checks the rules and runs one unit test per alert; then a real
Prometheus (Debian's `prometheus` package) scrapes a real `serve` under light
load every second, and every dashboard query must return data through its HTTP
API. Skipped where prometheus/promtool is not installed (`.ci/run` installs it).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from conftest import KEYS, key_header
from processes import (
    UPSTREAM_ENV,
    UPSTREAM_PASSWORD,
    UPSTREAM_USER,
    Child,
    free_port,
    poll,
    wait_http,
    wait_listening,
    write_config,
)
from prometheus_client.parser import text_string_to_metric_families

from gateway.edge.worker_metrics import WORKER_GAUGES

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
ALERTS_TEST = ROOT / "tests" / "prometheus" / "alerts_test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "olconnect-gateway.json"
SEGMENTS = "/rest/serverengine/entity/jobsegments"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
# What Grafana puts in for the dashboard's variables: every job and instance, and a
# rate window of several 1 s scrapes.
VARIABLES = {"$__rate_interval": "5s", "$job": ".+", "$instance": ".+"}
_METRIC = re.compile(r"\bolcg_[a-z_]+")

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed")


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(  # noqa: S603 - promtool from PATH with fixed arguments
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


@needs_promtool
def test_alert_rules_pass_promtool_check() -> None:
    """`promtool check rules` accepts the alerting rules."""
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


@needs_promtool
def test_alert_rules_unit_tests_pass_one_per_alert() -> None:
    """`promtool test rules` passes; every alert has a test in which it fires, and stays
    quiet in every idle-gateway test (SPEC §12.2: alerts that do not cry wolf)."""
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    alerts = {rule["alert"] for rule in alert_rules()}
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert firing == alerts
    idle = [test for test in tests if test["name"].startswith("idle")]
    assert len(idle) >= 2  # a fresh gateway, and one idle since an outage ended
    for test in idle:
        quiet = {case["alertname"] for case in test["alert_rule_test"] if not case["exp_alerts"]}
        assert quiet == alerts, test["name"]
        assert all(not case["exp_alerts"] for case in test["alert_rule_test"])
        # Long enough for every rule's window and `for:` to have passed.
        assert max(case["eval_time"] for case in test["alert_rule_test"]) == "90m"
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_count_client_traffic_not_scrapes() -> None:
    """Every rule reading olcg_requests_total leaves the gateway's own /metrics out, and every
    rule is computed per gateway (job, instance), whatever a worker label says."""
    for rule in alert_rules():
        expr = rule["expr"]
        for selector in re.findall(r"olcg_requests_total(\{[^}]*\})?", expr):
            assert "/metrics" in selector, (rule["alert"], expr)
        for aggregation in re.findall(r"\b(?:sum|max|min) by \(([^)]*)\)", expr):
            assert aggregation == "job, instance" or aggregation.startswith("job, instance,")
        assert re.search(r"\b(?:sum|max|min) by \(job, instance", expr), rule["alert"]


def test_dashboard_is_grafana_json_with_one_datasource_variable() -> None:
    """Rows and panels with unique ids; every query goes to the `datasource` variable."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    assert [p["title"] for p in panels if p["type"] == "row"] == ["Traffic", "Cache", "Upstream"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"]
            assert panel["description"]


async def exported_metric_names(gateway: Any) -> set[str]:
    async with gateway.get("/metrics") as response:
        text = await response.text()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


async def test_alerts_and_dashboard_use_metric_names_the_gateway_exports(gateway: Any) -> None:
    """Every olcg_ name in a rule or a panel is one /metrics really exposes."""
    async with gateway.get(f"{SEGMENTS}/1", headers=key_header()) as response:
        assert response.status == 200
    exported = await exported_metric_names(gateway)
    used = {
        name
        for text in [*(rule["expr"] for rule in alert_rules()), *dashboard_queries()]
        for name in _METRIC.findall(text)
    }
    assert used
    # The worker gauges exist only under serve --workers (the test below scrapes them).
    assert used - exported - set(WORKER_GAUGES) == set()


class Process:
    """A non-CLI child process with its output in files; killed at the end."""

    def __init__(self, args: list[str], workdir: Path) -> None:
        self.log = workdir / f"{Path(args[0]).name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - a program from PATH, fixed arguments
                args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def prometheus_config(path: Path, gateway_port: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "olconnect-gateway",
                "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def processes() -> Iterator[list[Process | Child]]:
    """Children started by the test, killed at its end, last started first."""
    started: list[Process | Child] = []
    yield started
    for process in reversed(started):
        process.kill()


async def light_load(base: str, stop: asyncio.Event) -> None:
    """A few requests every 50 ms: hits, misses (no-cache), 429s, until `stop` is set."""
    limited = {"X-API-Key": KEYS["limited"]}
    async with aiohttp.ClientSession(base) as session:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            requests = [
                session.get(f"{SEGMENTS}/{round_ % 7 + 1}", headers=key_header()),
                session.get(
                    f"{SEGMENTS}/{round_ % 5 + 1}/metadata",
                    headers={**key_header(), "Cache-Control": "no-cache"},
                ),
                *(session.get(f"{SEGMENTS}/1", headers=limited) for _ in range(3)),
            ]
            for request in requests:
                async with request as response:
                    await response.read()
            await asyncio.sleep(0.05)


async def one_upstream_failure(simulator: str, gateway: str) -> None:
    """One 502 (an upstream 500), so the errors panel has a series to show."""
    async with aiohttp.ClientSession() as session:
        for fault in ("status_500", None):
            async with session.put(f"{simulator}/_sim/fault", json={"fault": fault}) as answer:
                assert answer.status == 200
            if fault is not None:
                url = f"{gateway}{SEGMENTS}/99"
                async with session.get(url, headers=key_header()) as response:
                    assert response.status == 502


@pytest.fixture
async def load_stopper() -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    yield stop
    stop.set()


async def query(session: aiohttp.ClientSession, expr: str) -> list[dict[str, Any]]:
    async with session.get("/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


@needs_prometheus
async def test_dashboard_queries_return_data_from_a_real_prometheus(
    tmp_path: Path, processes: list[Process | Child], load_stopper: asyncio.Event
) -> None:
    """A real Prometheus scrapes a real `serve` under load; every panel query and variable
    returns data, and every alerting rule evaluates without error."""
    assert PROMETHEUS is not None
    sim_port, port, prometheus_port = free_port(), free_port(), free_port()
    credentials = ["--username", UPSTREAM_USER, "--password", UPSTREAM_PASSWORD]
    simulator = ["simulator", "--port", str(sim_port), *credentials, "--expose-controls"]
    processes.append(Child(simulator, tmp_path))
    config = write_config(tmp_path / "gateway.yaml", port=port, upstream_port=sim_port)
    gateway = Child(["serve", "--config", str(config)], tmp_path, UPSTREAM_ENV)
    processes.append(gateway)
    prometheus = Process(
        [
            PROMETHEUS,
            f"--config.file={prometheus_config(tmp_path / 'prometheus.yml', port)}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        tmp_path,
    )
    processes.append(prometheus)
    wait_listening(sim_port)
    await wait_http(f"http://127.0.0.1:{port}/healthz", gateway)
    await one_upstream_failure(f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{port}")
    load = asyncio.create_task(light_load(f"http://127.0.0.1:{port}", load_stopper))
    gateway.send(signal.SIGHUP)  # one clients: reload, for the reloads series

    async with aiohttp.ClientSession(f"http://127.0.0.1:{prometheus_port}") as session:

        async def scraped() -> bool | None:
            if prometheus.process.poll() is not None:
                raise AssertionError(prometheus.log.read_text())
            try:
                up = await query(session, 'count_over_time(up{job="olconnect-gateway"}[1m])')
                reloads = await query(session, "olcg_config_reloads_total")
            except aiohttp.ClientError:
                return None
            if not reloads:
                # A SIGHUP that arrived before serve installed its handler was ignored.
                gateway.send(signal.SIGHUP)
            return True if up and float(up[0]["value"][1]) >= 6 and reloads else None

        await poll(scraped, 25, "six scrapes of the gateway", interval=0.2)

        empty = []
        for expr in dashboard_queries():
            substituted = expr
            for variable, value in VARIABLES.items():
                substituted = substituted.replace(variable, value)
            values = [float(series["value"][1]) for series in await query(session, substituted)]
            if not any(math.isfinite(value) for value in values):
                empty.append(expr)
        assert empty == [], f"dashboard queries without data: {empty}"

        for label in ("job", "instance"):
            async with session.get(
                f"/api/v1/label/{label}/values", params={"match[]": "olcg_requests_total"}
            ) as response:
                assert (await response.json())["data"], f"no values for ${label}"

        async def evaluated() -> list[dict[str, Any]] | None:
            async with session.get("/api/v1/rules") as response:
                groups = (await response.json())["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            done = all(not rule["lastEvaluation"].startswith("0001") for rule in rules)
            return rules if rules and done else None

        rules = await poll(evaluated, 10, "every alerting rule to be evaluated", interval=0.2)
        assert {rule["name"] for rule in rules} == {rule["alert"] for rule in alert_rules()}
        assert {rule["health"] for rule in rules} == {"ok"}, rules
    load_stopper.set()
    await load


@needs_prometheus
async def test_idle_workers_fire_no_alert_and_prometheus_sees_every_request(
    tmp_path: Path, processes: list[Process | Child]
) -> None:
    """A real Prometheus scrapes `serve --workers 2` over one kept-alive connection (so one
    worker answers every scrape): idle, with only scrapes, no alert is even pending; then N
    requests on N connections, spread over both workers, all show in its sum."""
    assert PROMETHEUS is not None
    sim_port, port, prometheus_port = free_port(), free_port(), free_port()
    credentials = ["--username", UPSTREAM_USER, "--password", UPSTREAM_PASSWORD]
    processes.append(Child(["simulator", "--port", str(sim_port), *credentials], tmp_path))
    config = write_config(tmp_path / "gateway.yaml", port=port, upstream_port=sim_port)
    gateway = Child(["serve", "--config", str(config), "--workers", "2"], tmp_path, UPSTREAM_ENV)
    processes.append(gateway)
    wait_listening(sim_port)
    await wait_http(f"http://127.0.0.1:{port}/healthz", gateway)
    processes.append(
        Process(
            [
                PROMETHEUS,
                f"--config.file={prometheus_config(tmp_path / 'prometheus.yml', port)}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                "--log.level=warn",
            ],
            tmp_path,
        )
    )

    async with aiohttp.ClientSession(f"http://127.0.0.1:{prometheus_port}") as session:

        async def value(expr: str) -> float | None:
            try:
                result = await query(session, expr)
            except aiohttp.ClientError:
                return None
            return float(result[0]["value"][1]) if result else None

        async def evaluated_after_scrapes() -> bool | None:
            scrapes = await value('count_over_time(up{job="olconnect-gateway"}[1m])')
            if scrapes is None or scrapes < 5:
                return None
            async with session.get("/api/v1/rules") as response:
                groups = (await response.json())["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return True if rules and all(r["health"] == "ok" for r in rules) else None

        await poll(evaluated_after_scrapes, 30, "five scrapes and the rules evaluated", 0.2)
        async with session.get("/api/v1/alerts") as response:
            alerts = (await response.json())["data"]["alerts"]
        assert alerts == [], "an idle, healthy gateway raised alerts"
        assert await value("olcg_workers_reporting") == 2

        requests = 20
        for _ in range(requests):
            async with (
                aiohttp.ClientSession() as client,
                client.get(f"http://127.0.0.1:{port}{SEGMENTS}/4", headers=key_header()) as answer,
            ):
                assert answer.status == 200
        expr = f'sum(olcg_requests_total{{route="{SEGMENTS}/{{id}}"}})'

        async def counted() -> float | None:
            seen = await value(expr)
            return seen if seen == requests else None

        assert await poll(counted, 15, "Prometheus to count every request", 0.2) == requests
        async with session.get("/api/v1/alerts") as response:
            assert (await response.json())["data"]["alerts"] == []
