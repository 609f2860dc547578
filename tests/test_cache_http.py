"""The cache as clients see it: headers, TTLs, bounds, coalescing, staleness, invalidation."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from conftest import FakeClock, MakeGateway, key_header, until
from processes import poll
from prometheus_client.parser import text_string_to_metric_families

from gateway.simulator import Fault, Simulator

SEGMENTS = "/rest/serverengine/entity/jobsegments"
READER = key_header("reader")
WRITER = key_header("writer")


async def test_cache_miss_then_hit_with_age(
    gateway: TestClient[Any, Any], simulator: Simulator, wall_clock: FakeClock
) -> None:
    """The first read is a MISS, the next a HIT with Age and the same bytes."""
    miss = await gateway.get(f"{SEGMENTS}/1", headers=READER)
    assert miss.headers["X-Cache"] == "MISS"
    assert miss.headers["Cache-Status"] == "olconnect-gateway; fwd=miss; stored"
    assert "Age" not in miss.headers
    wall_clock.advance(42)
    hit = await gateway.get(f"{SEGMENTS}/1", headers=READER)
    assert hit.headers["X-Cache"] == "HIT"
    assert hit.headers["Age"] == "42"
    assert hit.headers["Cache-Status"] == "olconnect-gateway; hit; ttl=258"
    assert hit.content_type == miss.content_type
    assert await hit.read() == await miss.read()
    assert simulator.calls["document_sets"] == 1


async def test_cache_kinds_have_their_own_ttl(
    gateway: TestClient[Any, Any], simulator: Simulator, wall_clock: FakeClock
) -> None:
    """Metadata expires after ttl.metadata (60 s), document sets after ttl.document_sets (300 s)."""
    await gateway.get(f"{SEGMENTS}/2", headers=READER)
    await gateway.get(f"{SEGMENTS}/2/metadata", headers=READER)
    wall_clock.advance(61)
    metadata = await gateway.get(f"{SEGMENTS}/2/metadata", headers=READER)
    sets = await gateway.get(f"{SEGMENTS}/2", headers=READER)
    assert metadata.headers["X-Cache"] == "MISS"
    assert sets.headers["X-Cache"] == "HIT"
    wall_clock.advance(240)
    assert (await gateway.get(f"{SEGMENTS}/2", headers=READER)).headers["X-Cache"] == "MISS"
    assert simulator.calls["metadata_get"] == 2
    assert simulator.calls["document_sets"] == 2


async def test_cache_stays_within_max_entries(
    make_gateway: MakeGateway, simulator: Simulator
) -> None:
    """After 10x max_entries distinct ids the cache holds at most max_entries."""
    gateway = await make_gateway(cache={"max_entries": 5})
    for n in range(1, 51):
        assert (await gateway.get(f"{SEGMENTS}/{n}", headers=READER)).status == 200
    exposition = await (await gateway.get("/metrics")).text()
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    assert samples["olcg_cache_entries"] <= 5
    assert samples["olcg_cache_evictions_total"] == 45


async def test_cache_coalesces_concurrent_misses(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """100 concurrent misses for one id make exactly one upstream call; all get the same body."""
    await gateway.get(f"{SEGMENTS}/1", headers=READER)  # log in first: count only data calls
    simulator.reset_counters()
    simulator.route_latency["document_sets"] = 0.05
    responses = await asyncio.gather(
        *(gateway.get(f"{SEGMENTS}/9", headers=READER) for _ in range(100))
    )
    bodies = {await r.read() for r in responses}
    assert [r.status for r in responses] == [200] * 100
    assert len(bodies) == 1
    assert simulator.calls["document_sets"] == 1
    assert sorted(r.headers["X-Cache"] for r in responses).count("MISS") == 100


async def test_cache_failed_shared_fetch_fans_out_and_next_retries(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """A failing shared fetch gives every waiter the error; the next request tries again."""
    await gateway.get(f"{SEGMENTS}/1", headers=READER)
    simulator.reset_counters()
    simulator.fault = Fault.STATUS_500
    simulator.route_latency["document_sets"] = 0.05
    responses = await asyncio.gather(
        *(gateway.get(f"{SEGMENTS}/9", headers=READER) for _ in range(20))
    )
    assert [r.status for r in responses] == [502] * 20
    assert simulator.calls["document_sets"] == 1
    simulator.fault = None
    assert (await gateway.get(f"{SEGMENTS}/9", headers=READER)).status == 200
    assert simulator.calls["document_sets"] == 2


async def test_cache_disconnected_waiter_does_not_cancel_others(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """A client that gives up while waiting leaves the shared fetch running for the others."""

    async def metrics_show(series: str) -> bool | None:
        exposition = await (await gateway.get("/metrics")).text()
        return True if series in exposition else None

    async def coalesced() -> bool | None:  # the waiter has joined the running fetch
        return await metrics_show("olcg_cache_coalesced_total 1.0")

    async def leader_gone() -> bool | None:  # the gateway saw the leader hang up (499)
        return await metrics_show('status="499"')

    await gateway.get(f"{SEGMENTS}/1", headers=READER)
    simulator.reset_counters()
    release = simulator.route_gates["document_sets"] = asyncio.Event()
    url = gateway.make_url(f"{SEGMENTS}/9")
    async with aiohttp.ClientSession() as impatient:
        leader = asyncio.create_task(impatient.get(url, headers=READER))
        await until(lambda: simulator.calls["document_sets"] == 1)
        waiter = asyncio.create_task(gateway.get(f"{SEGMENTS}/9", headers=READER))
        await poll(coalesced, 5, "the second client to join the fetch")
        leader.cancel()  # the first client disconnects mid-fetch
        await asyncio.gather(leader, return_exceptions=True)
        await poll(leader_gone, 5, "the gateway to see the first client go")
    release.set()  # the upstream answers only now: the fetch outlived the leader
    response = await waiter
    assert response.status == 200
    assert simulator.calls["document_sets"] == 1
    assert (await gateway.get(f"{SEGMENTS}/9", headers=READER)).headers["X-Cache"] == "HIT"


async def test_cache_negative_caches_404(
    gateway: TestClient[Any, Any], simulator: Simulator, wall_clock: FakeClock
) -> None:
    """An upstream 404 is served from the cache for ttl.not_found, then asked again."""
    first = await gateway.get(f"{SEGMENTS}/5000", headers=READER)
    second = await gateway.get(f"{SEGMENTS}/5000", headers=READER)
    assert (first.status, second.status) == (404, 404)
    assert second.headers["X-Cache"] == "HIT"
    assert await second.json() == await first.json()
    assert simulator.calls["document_sets"] == 1
    wall_clock.advance(6)
    assert (await gateway.get(f"{SEGMENTS}/5000", headers=READER)).headers["X-Cache"] == "MISS"
    assert simulator.calls["document_sets"] == 2


@pytest.mark.parametrize("fault", [Fault.STATUS_500, Fault.DROP, Fault.NON_JSON])
async def test_cache_serves_stale_if_error_within_window(
    make_gateway: MakeGateway, simulator: Simulator, wall_clock: FakeClock, fault: Fault
) -> None:
    """An expired entry is served STALE while the upstream fails, until stale_if_error ends."""
    gateway = await make_gateway(cache={"stale_if_error": 100})
    fresh = await gateway.get(f"{SEGMENTS}/3/metadata", headers=READER)
    wall_clock.advance(61 + 50)  # expired 51 s ago, inside the 100 s window
    simulator.fault = fault
    stale = await gateway.get(f"{SEGMENTS}/3/metadata", headers=READER)
    assert stale.status == 200
    assert stale.headers["X-Cache"] == "STALE"
    assert stale.headers["Age"] == "111"
    assert stale.headers["Cache-Status"] == "olconnect-gateway; hit; ttl=-51"
    assert await stale.read() == await fresh.read()
    wall_clock.advance(60)  # now 111 s past expiry: outside the window
    assert (await gateway.get(f"{SEGMENTS}/3/metadata", headers=READER)).status == 502


async def test_cache_stale_if_error_covers_failed_logins(
    make_gateway: MakeGateway, simulator: Simulator, wall_clock: FakeClock
) -> None:
    """When the upstream login fails, an expired entry is served STALE instead of 502."""
    gateway = await make_gateway(cache={"stale_if_error": 100})
    await gateway.get(f"{SEGMENTS}/3", headers=READER)
    wall_clock.advance(310)
    simulator.expire_all_tokens()
    simulator.reject_logins = True
    stale = await gateway.get(f"{SEGMENTS}/3", headers=READER)
    assert stale.status == 200
    assert stale.headers["X-Cache"] == "STALE"


async def test_cache_stale_while_revalidate_answers_at_once_and_refreshes_once(
    make_gateway: MakeGateway, simulator: Simulator, wall_clock: FakeClock
) -> None:
    """Inside stale_while_revalidate an expired entry is served at once while one refresh runs."""
    gateway = await make_gateway(cache={"stale_while_revalidate": 30})
    await gateway.get(f"{SEGMENTS}/4/metadata", headers=READER)
    wall_clock.advance(70)  # 10 s past expiry
    simulator.route_latency["metadata_get"] = 0.1
    responses = await asyncio.gather(
        *(gateway.get(f"{SEGMENTS}/4/metadata", headers=READER) for _ in range(10))
    )
    assert {r.headers["X-Cache"] for r in responses} == {"STALE"}
    await until(lambda: simulator.calls["metadata_get"] == 2)
    refreshed = None
    for _ in range(100):
        refreshed = await gateway.get(f"{SEGMENTS}/4/metadata", headers=READER)
        if refreshed.headers["X-Cache"] == "HIT":
            break
        await asyncio.sleep(0.02)
    assert refreshed is not None
    assert refreshed.headers["X-Cache"] == "HIT"
    assert simulator.calls["metadata_get"] == 2


async def test_cache_no_cache_bypasses_and_refreshes(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """Cache-Control: no-cache refetches (BYPASS) and the refreshed entry is then a HIT."""
    await gateway.get(f"{SEGMENTS}/6/metadata", headers=READER)
    simulator.data.set_metadata(6, [{"name": "changed", "value": "upstream"}])
    bypass = await gateway.get(
        f"{SEGMENTS}/6/metadata", headers={**READER, "Cache-Control": "no-cache"}
    )
    assert bypass.headers["X-Cache"] == "BYPASS"
    assert bypass.headers["Cache-Status"] == "olconnect-gateway; fwd=request; stored"
    assert await bypass.json() == [{"name": "changed", "value": "upstream"}]
    hit = await gateway.get(f"{SEGMENTS}/6/metadata", headers=READER)
    assert hit.headers["X-Cache"] == "HIT"
    assert await hit.json() == [{"name": "changed", "value": "upstream"}]
    assert simulator.calls["metadata_get"] == 2


async def test_cache_read_after_write(gateway: TestClient[Any, Any]) -> None:
    """A read right after a successful PUT sees the new metadata."""
    await gateway.get(f"{SEGMENTS}/7/metadata", headers=READER)
    new = [{"name": "status", "value": "printed"}]
    put = await gateway.put(
        f"{SEGMENTS}/7/metadata", json={"id": 7, "properties": new}, headers=WRITER
    )
    assert put.status == 200
    after = await gateway.get(f"{SEGMENTS}/7/metadata", headers=READER)
    assert after.headers["X-Cache"] == "MISS"
    assert await after.json() == new


async def test_cache_in_flight_old_fetch_does_not_overwrite_a_write(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """A fetch of the old value in flight when a PUT lands never writes the old value back."""
    await gateway.get(f"{SEGMENTS}/1", headers=READER)  # logged in
    simulator.route_latency["metadata_get"] = 0.3
    old_read = asyncio.create_task(gateway.get(f"{SEGMENTS}/8/metadata", headers=READER))
    await until(lambda: simulator.calls["metadata_get"] == 1)  # the old value is being read
    new = [{"name": "status", "value": "new"}]
    put = await gateway.put(
        f"{SEGMENTS}/8/metadata", json={"id": 8, "properties": new}, headers=WRITER
    )
    assert put.status == 200
    simulator.route_latency["metadata_get"] = 0
    after = await gateway.get(f"{SEGMENTS}/8/metadata", headers=READER)
    assert await after.json() == new  # did not join the old in-flight fetch
    old = await old_read
    assert old.status == 200
    final = await gateway.get(f"{SEGMENTS}/8/metadata", headers=READER)
    assert await final.json() == new  # the old fetch did not write its value back


async def test_cache_reader_cannot_purge(gateway: TestClient[Any, Any]) -> None:
    """Purging needs the admin scope: a reader gets 403 and the entry stays."""
    await gateway.get(f"{SEGMENTS}/1", headers=READER)
    assert (await gateway.delete("/admin/cache", headers=READER)).status == 403
    assert (await gateway.delete("/admin/cache/jobsegments/1", headers=WRITER)).status == 403
    assert (await gateway.get(f"{SEGMENTS}/1", headers=READER)).headers["X-Cache"] == "HIT"
