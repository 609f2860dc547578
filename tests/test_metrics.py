"""GET /metrics: the exposition parses, and each metric moves as known traffic says it should."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway, key_header
from docpages import doc_section
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.simulator import Fault, Simulator
from gateway.state import METRICS
from gateway.telemetry.metrics import Metrics

SEGMENTS = "/rest/serverengine/entity/jobsegments"
SEGMENT_ROUTE = SEGMENTS + "/{id}"
METADATA_ROUTE = SEGMENTS + "/{id}/metadata"

Client = TestClient[Any, Any]


class Scrape:
    """One parsed /metrics answer; `value()` finds a sample by name and exact labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples: list[Sample] = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample `name{labels}`; 0 when the series does not exist yet."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, f"{name}{labels} is ambiguous"
        return found[0] if found else 0.0

    def label_values(self) -> set[str]:
        return {value for sample in self.samples for value in sample.labels.values()}


async def scrape(client: Client) -> Scrape:
    """GET /metrics through the gateway and parse it with prometheus-client's parser."""
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers[hdrs.CONTENT_TYPE].startswith("text/plain")
    return Scrape(await response.text())


async def get(client: Client, path: str, who: str = "reader", **headers: str) -> int:
    async with client.get(path, headers={**key_header(who), **headers}) as response:
        await response.read()
        return response.status


def requests_total(scraped: Scrape, route: str, status: int, client: str = "reader") -> float:
    return scraped.value(
        "olcg_requests_total", route=route, method="GET", status=str(status), client=client
    )


async def test_metrics_requests_counted_by_route_template_status_and_client(
    make_gateway: MakeGateway,
) -> None:
    """Requests are counted under their route template, status and client name."""
    gateway = await make_gateway(metrics={"client_labels": True})
    assert await get(gateway, f"{SEGMENTS}/5") == 200
    assert await get(gateway, f"{SEGMENTS}/5") == 200
    assert await get(gateway, f"{SEGMENTS}/6/metadata") == 200
    assert await get(gateway, f"{SEGMENTS}/abc") == 400
    assert await get(gateway, f"{SEGMENTS}/5", who="writer") == 200
    assert await get(gateway, "/no/such/path") == 404
    async with gateway.get(f"{SEGMENTS}/5", headers={"X-API-Key": "wrong"}) as response:
        assert response.status == 403

    scraped = await scrape(gateway)

    assert requests_total(scraped, SEGMENT_ROUTE, 200) == 2
    assert requests_total(scraped, SEGMENT_ROUTE, 200, client="writer") == 1
    assert requests_total(scraped, SEGMENT_ROUTE, 400) == 1
    assert requests_total(scraped, METADATA_ROUTE, 200) == 1
    assert requests_total(scraped, "unmatched", 404, client="-") == 1
    assert requests_total(scraped, SEGMENT_ROUTE, 403, client="-") == 1
    assert scraped.value("olcg_request_duration_seconds_count", route=SEGMENT_ROUTE) == 5
    assert scraped.families["olcg_request_duration_seconds"].type == "histogram"


def test_metrics_latency_buckets_are_cumulative_with_inclusive_bounds() -> None:
    """A latency lands in the first bucket whose bound is >= it (`le`); counts accumulate."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    for seconds in (0.0005, 0.001, 0.003, 0.005, 0.2, 60.0):
        metrics.observe_request("/r", "GET", 200, "app", seconds)

    scraped = Scrape(generate_latest(registry).decode())

    def bucket(le: str) -> float:
        return scraped.value("olcg_request_duration_seconds_bucket", route="/r", le=le)

    assert (bucket("0.001"), bucket("0.0025"), bucket("0.005")) == (2, 2, 4)
    assert (bucket("0.1"), bucket("0.25"), bucket("10.0"), bucket("+Inf")) == (4, 5, 5, 6)
    assert scraped.value("olcg_request_duration_seconds_count", route="/r") == 6
    assert scraped.value("olcg_request_duration_seconds_sum", route="/r") == pytest.approx(60.2095)
    assert (
        scraped.value("olcg_requests_total", route="/r", method="GET", status="200", client="app")
        == 6
    )


async def test_metrics_label_values_never_hold_raw_paths_ids_or_keys(gateway: Client) -> None:
    """Label values are templates, outcomes and client names: no raw id, path or key."""
    for path in (f"{SEGMENTS}/12345", f"{SEGMENTS}/12345/metadata", f"{SEGMENTS}/99999", "/x/777"):
        await get(gateway, path)
    async with gateway.get(SEGMENTS, headers={"X-API-Key": KEYS["reader"] + "x"}) as response:
        assert response.status == 403

    values = (await scrape(gateway)).label_values()

    assert not [v for v in values if "12345" in v or "99999" in v or "777" in v]
    assert not [v for v in values if any(key in v for key in KEYS.values())]
    assert {SEGMENT_ROUTE, METADATA_ROUTE, "unmatched"} <= values


async def test_metrics_upstream_requests_counted_by_route_and_status(
    gateway: Client, simulator: Simulator
) -> None:
    """Upstream calls are counted by route template and status; cache hits call nothing."""
    await get(gateway, f"{SEGMENTS}/5")
    await get(gateway, f"{SEGMENTS}/5")
    await get(gateway, f"{SEGMENTS}/100000")
    await get(gateway, SEGMENTS)
    simulator.fault = Fault.STATUS_500
    await get(gateway, f"{SEGMENTS}/7/metadata")

    scraped = await scrape(gateway)

    name = "olcg_upstream_requests_total"
    segment = f"{SEGMENTS}/{{id}}"
    assert scraped.value(name, route=segment, status="200") == 1
    assert scraped.value(name, route=segment, status="404") == 1
    assert scraped.value(name, route=SEGMENTS, status="200") == 1
    assert scraped.value(name, route=segment + "/metadata", status="500") == 1
    assert scraped.value("olcg_upstream_duration_seconds_count", route=segment) == 2


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("none", {"ok": 1, "rejected": 0, "error": 0}),
        ("reject", {"ok": 0, "rejected": 1, "error": 0}),
    ],
)
async def test_metrics_logins_counted_by_outcome(
    gateway: Client, simulator: Simulator, setup: str, expected: Mapping[str, int]
) -> None:
    """Each upstream login is counted once under its outcome."""
    simulator.reject_logins = setup == "reject"
    await get(gateway, f"{SEGMENTS}/5")
    await get(gateway, f"{SEGMENTS}/6")  # backing off, or token held: no second login

    scraped = await scrape(gateway)

    for outcome, count in expected.items():
        assert scraped.value("olcg_upstream_logins_total", outcome=outcome) == count


async def test_metrics_login_error_counted_when_upstream_unreachable(
    make_gateway: MakeGateway, unused_tcp_port: int
) -> None:
    """A login that cannot reach the upstream is counted as an error."""
    gateway = await make_gateway(upstream={"url": f"http://127.0.0.1:{unused_tcp_port}"})
    assert await get(gateway, f"{SEGMENTS}/5") == 502

    scraped = await scrape(gateway)

    assert scraped.value("olcg_upstream_logins_total", outcome="error") == 1
    assert scraped.value("olcg_upstream_logins_total", outcome="ok") == 0


async def test_metrics_token_expiry_gauge_follows_the_clock(
    gateway: Client, clock: FakeClock
) -> None:
    """The token gauge is 0 before a login, then counts down the token's lifetime."""
    name = "olcg_upstream_token_expires_in_seconds"
    assert (await scrape(gateway)).value(name) == 0
    await get(gateway, SEGMENTS)
    assert (await scrape(gateway)).value(name) == 3600
    clock.advance(100)
    assert (await scrape(gateway)).value(name) == 3500


async def test_metrics_cache_hits_misses_bypass_and_entries(gateway: Client) -> None:
    """Cache counters move with MISS, HIT and BYPASS answers; entries counts stored ones."""
    await get(gateway, f"{SEGMENTS}/5")  # miss
    await get(gateway, f"{SEGMENTS}/5")  # hit
    await get(gateway, f"{SEGMENTS}/5/metadata")  # miss
    await get(gateway, f"{SEGMENTS}/5", **{hdrs.CACHE_CONTROL: "no-cache"})  # bypass

    scraped = await scrape(gateway)

    assert scraped.value("olcg_cache_misses_total") == 2
    assert scraped.value("olcg_cache_hits_total") == 1
    assert scraped.value("olcg_cache_bypass_total") == 1
    assert scraped.value("olcg_cache_stale_total") == 0
    assert scraped.value("olcg_cache_entries") == 2


async def test_metrics_cache_stale_counted_when_upstream_fails(
    make_gateway: MakeGateway, simulator: Simulator, wall_clock: FakeClock
) -> None:
    """An expired entry served under stale-if-error counts as stale."""
    gateway = await make_gateway(cache={"ttl": {"document_sets": 1}})
    await get(gateway, f"{SEGMENTS}/5")
    wall_clock.advance(2)
    simulator.fault = Fault.STATUS_500
    assert await get(gateway, f"{SEGMENTS}/5") == 200

    assert (await scrape(gateway)).value("olcg_cache_stale_total") == 1


async def test_metrics_cache_evictions_counted_at_the_size_bound(
    make_gateway: MakeGateway,
) -> None:
    """Storing past `cache.max_entries` counts evictions and keeps entries at the bound."""
    gateway = await make_gateway(cache={"max_entries": 2})
    for segment in (1, 2, 3):
        await get(gateway, f"{SEGMENTS}/{segment}")

    scraped = await scrape(gateway)

    assert scraped.value("olcg_cache_evictions_total") == 1
    assert scraped.value("olcg_cache_entries") == 2


async def test_metrics_cache_coalesced_waiters_counted(
    gateway: Client, simulator: Simulator
) -> None:
    """Concurrent requests for one uncached entry: one upstream call, four coalesced waiters."""
    simulator.route_latency["document_sets"] = 0.3
    statuses = await asyncio.gather(*(get(gateway, f"{SEGMENTS}/9") for _ in range(5)))
    assert statuses == [200] * 5

    scraped = await scrape(gateway)

    assert simulator.calls["document_sets"] == 1
    assert scraped.value("olcg_cache_misses_total") == 5  # every answer was a MISS
    assert scraped.value("olcg_cache_coalesced_total") == 4


async def test_metrics_rate_limited_requests_counted_by_client(make_gateway: MakeGateway) -> None:
    """Every 429 is counted under the limited client's name, and no one else's."""
    gateway = await make_gateway(metrics={"client_labels": True})
    statuses = [await get(gateway, SEGMENTS, who="limited") for _ in range(13)]
    assert statuses.count(429) == 3

    scraped = await scrape(gateway)

    assert scraped.value("olcg_rate_limited_requests_total", client="limited") == 3
    assert requests_total(scraped, SEGMENTS, 429, client="limited") == 3
    assert scraped.value("olcg_rate_limited_requests_total", client="reader") == 0


async def test_metrics_endpoint_needs_no_key(gateway: Client) -> None:
    """/metrics answers without any credential."""
    async with gateway.get("/metrics") as response:
        assert response.status == 200
        assert "olcg_requests" in await response.text()


async def test_metrics_every_exported_metric_listed_in_operations_doc(gateway: Client) -> None:
    """Each metric family the app exports appears, with its type, in operations.md → Metrics."""
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in doc_section("operations", "## Metrics").splitlines()
        if line.startswith("| `olcg_")
    }
    async with gateway.get("/metrics"):
        pass  # the app is started: the cache collector is registered
    exported = {}
    for family in gateway.app[METRICS].registry.collect():
        name = family.name + "_total" if family.type == "counter" else family.name
        exported[name] = family.type
    missing = {name: kind for name, kind in exported.items() if rows.get(name) != kind}
    assert not missing, f"docs/operations.md → Metrics lacks (or mistypes) these metrics: {missing}"


@pytest.mark.parametrize(
    ("method", "label"),
    [
        ("GET", "GET"),
        ("PATCH", "PATCH"),
        ("PROPFIND", "other"),
        ("get", "other"),
        ("X" * 50, "other"),
    ],
)
def test_metrics_method_label_is_bounded(method: str, label: str) -> None:
    """Only the nine standard methods are label values; any other is counted as "other"."""
    metrics = Metrics(CollectorRegistry())
    metrics.observe_request("/r", method, 405, "-", 0.001)
    scraped = Scrape(generate_latest(metrics.registry).decode())
    assert (
        scraped.value("olcg_requests_total", route="/r", method=label, status="405", client="-")
        == 1
    )
