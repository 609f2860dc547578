"""Caching of every stable read (SPEC §8.5), walked over the catalogue against the simulator.

Every cacheable entry: MISS, then HIT; then each write that invalidates it
drops it, so the next read is a MISS with the new answer. Every other entry:
never a HIT. A test fails when the catalogue gains a cacheable route that no
case here covers.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import key_header

from gateway.catalogue import ROUTES, Kind
from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault

Client = TestClient[Any, Any]
B = "/rest/serverengine"
E = f"{B}/entity"
ALL = key_header("admin")


def props(entity: int, name: str = "note", value: str = "changed") -> dict[str, Any]:
    return {"id": entity, "properties": [{"name": name, "value": value}]}


@dataclass(frozen=True)
class Write:
    """A write through the gateway: method, path, JSON body."""

    method: str
    path: str
    body: Any = None


@dataclass(frozen=True)
class Case:
    """A cacheable read and the writes that must drop it.

    Args:
        template: the catalogue template it covers.
        path: a concrete read of it.
        writes: each one, on its own, must drop the entry (the read after it is a MISS).
        changes: the first write changes the answer (else the same answer is reloaded).
    """

    template: str
    path: str
    writes: tuple[Write, ...] = ()
    changes: bool = True
    gone: bool = field(default=False)  # the first write makes the read a 404 (a delete)


FIELD = {"name": "x", "value": "1"}
# `GET entity/jobsets|datasets|contentsets` is "get all": OL Connect answers the JSON
# Identifier List of every set (FIDELITY B1), not a handshake text.
GET_ALL = [f"{E}/{family}" for family in ("contentsets", "datasets", "jobsets")]
# Simulator data (gateway/simulator/model/entities.py): job set k holds jobs 2k-1, 2k; job j holds
# segments 2j-1, 2j; segment s holds document sets 10s+1..3; document set d holds documents
# 10d+1, 10d+2; data and content set k hold records and items 4k-3..4k.
CASES = [
    Case(f"{E}/jobsegments/{{id}}", f"{E}/jobsegments/3", (
        Write("POST", f"{E}/jobsets/1/delete"),
    ), gone=True),
    Case(f"{E}/jobsegments/{{id}}/metadata", f"{E}/jobsegments/3/metadata", (
        Write("PUT", f"{E}/jobsegments/3/metadata", props(3)),
    )),
    Case(f"{E}/jobs/{{id}}", f"{E}/jobs/3", (Write("POST", f"{E}/jobsets/2/delete"),), gone=True),
    Case(f"{E}/jobs/{{id}}/contents", f"{E}/jobs/3/contents", (
        Write("PUT", f"{E}/jobs/3/metadata", props(3)),
    ), changes=False),
    Case(f"{E}/jobs/{{id}}/metadata", f"{E}/jobs/3/metadata", (
        Write("PUT", f"{E}/jobs/3/metadata", props(3)),
    )),
    Case(f"{E}/jobs/{{id}}/properties", f"{E}/jobs/3/properties", (
        Write("PUT", f"{E}/jobs/properties", [props(3, value="bulk")]),
        Write("PUT", f"{E}/jobs/3/properties", props(3)),
    )),
    Case(f"{E}/jobsets/{{id}}", f"{E}/jobsets/2", (
        Write("POST", f"{E}/jobsets/2/delete"),
    ), gone=True),
    Case(f"{E}/jobsets/{{id}}/metadata", f"{E}/jobsets/2/metadata", (
        Write("PUT", f"{E}/jobsets/2/metadata", props(2)),
    )),
    Case(f"{E}/jobsets/{{id}}/properties", f"{E}/jobsets/2/properties", (
        Write("PUT", f"{E}/jobsets/2/properties", props(2)),
        Write("POST", f"{E}/jobsets/9/delete"),
    )),
    Case(f"{B}/statistics/jobset/{{id}}", f"{B}/statistics/jobset/2?levelMode=documentOnly", (
        Write("PUT", f"{E}/jobsets/2/properties", props(2, "copies", "3")),
        Write("PUT", f"{E}/documents/311/metadata", props(311, "pages", "9")),
        Write("PUT", f"{E}/jobs/4/properties", props(4)),
    )),
    Case(f"{E}/documentsets/{{id}}", f"{E}/documentsets/31", (
        Write("PUT", f"{E}/documentsets/31/metadata", props(31)),
    ), changes=False),
    Case(f"{E}/documentsets/{{id}}/metadata", f"{E}/documentsets/31/metadata", (
        Write("PUT", f"{E}/documentsets/31/metadata", props(31)),
    )),
    Case(f"{E}/documents/{{id}}/metadata", f"{E}/documents/311/metadata", (
        Write("PUT", f"{E}/documents/311/metadata", props(311)),
    )),
    Case(f"{E}/contentsets/{{id}}", f"{E}/contentsets/2", (
        Write("POST", f"{E}/contentsets/2/delete"),
    ), gone=True),
    Case(f"{E}/contentsets/{{id}}/pages", f"{E}/contentsets/2/pages?detail=false", (
        Write("PUT", f"{E}/contentsets/2/properties", props(2)),
    ), changes=False),
    Case(f"{E}/contentsets/{{id}}/properties", f"{E}/contentsets/2/properties", (
        Write("PUT", f"{E}/contentsets/2/properties", props(2)),
    )),
    Case(f"{E}/contentitems/{{id}}/datarecord", f"{E}/contentitems/5/datarecord", (
        Write("POST", f"{E}/contentsets/2/delete"),
    ), gone=True),
    Case(f"{E}/contentitems/{{id}}/properties", f"{E}/contentitems/5/properties", (
        Write("PUT", f"{E}/contentitems/properties", [props(5, value="bulk")]),
        Write("PUT", f"{E}/contentitems/5/properties", props(5)),
    )),
    Case(f"{E}/datasets/{{id}}", f"{E}/datasets/2", (
        Write("POST", f"{E}/datasets/2/delete"),
    ), gone=True),
    Case(f"{E}/datasets/{{id}}/properties", f"{E}/datasets/2/properties", (
        Write("PUT", f"{E}/datasets/2/properties", props(2)),
    )),
    Case(f"{E}/datarecords/{{id}}/values", f"{E}/datarecords/5/values?recursive=true", (
        Write("PUT", f"{E}/datarecords/5/values", {"id": 5, "fields": [FIELD]}),
        Write("PUT", f"{E}/datarecords", [{"id": 5, "fields": [{**FIELD, "value": "2"}]}]),
    )),
    Case(f"{E}/datarecords/{{id}}/properties", f"{E}/datarecords/5/properties", (
        Write("PUT", f"{E}/datarecords/properties", [props(5, value="bulk")]),
        Write("PUT", f"{E}/datarecords/5/properties", props(5)),
    )),
    # The get-all lists (SPEC §10.1): a set delete drops them (operations: test_all_sets.py).
    Case(f"{E}/jobsets", f"{E}/jobsets", (Write("POST", f"{E}/jobsets/3/delete"),)),
    Case(f"{E}/datasets", f"{E}/datasets", (Write("POST", f"{E}/datasets/3/delete"),)),
    Case(f"{E}/contentsets", f"{E}/contentsets", (Write("POST", f"{E}/contentsets/3/delete"),)),
]  # fmt: skip
SERVICE_INFO = [
    route.template
    for route in ROUTES
    if route.kind in (Kind.HANDSHAKE, Kind.VERSION) and route.template not in GET_ALL
]


async def read(gateway: Client, path: str) -> tuple[int, str, bytes]:
    async with gateway.get(path, headers=ALL) as answer:
        return answer.status, answer.headers.get("X-Cache", "-"), await answer.read()


async def write(gateway: Client, change: Write) -> None:
    async with gateway.request(change.method, change.path, json=change.body, headers=ALL) as a:
        assert a.status == 200, (change, await a.text())


def test_cases_cover_every_cacheable_route() -> None:
    """Each cacheable catalogue entry has a case here (handshakes and versions all at once)."""
    cacheable = {route.template for route in ROUTES if route.cache is not None}
    assert cacheable == {case.template for case in CASES} | set(SERVICE_INFO)


@pytest.mark.parametrize(
    "case", CASES, ids=[re.sub(r"^/rest/serverengine/", "", c.template) for c in CASES]
)
async def test_cacheable_read_hits_and_every_invalidating_write_drops_it(
    gateway: Client, simulator: Simulator, case: Case
) -> None:
    """MISS, HIT; after each write the next read is a MISS, with the new answer."""
    status, outcome, before = await read(gateway, case.path)
    assert (status, outcome) == (200, "MISS")
    status, outcome, again = await read(gateway, case.path)
    assert (status, outcome, again) == (200, "HIT", before)
    for number, change in enumerate(case.writes):
        await write(gateway, change)
        status, outcome, after = await read(gateway, case.path)
        assert outcome == "MISS", change
        if number == 0 and case.gone:
            assert status == 404
            return
        assert status == 200
        if number == 0:
            assert (after != before) == case.changes, change
        assert (await read(gateway, case.path))[1] == "HIT"


@pytest.mark.parametrize("template", SERVICE_INFO)
async def test_handshakes_and_versions_are_cached_for_service_info(
    gateway: Client, template: str
) -> None:
    """Every service's handshake and version: MISS, then HIT until purged."""
    assert (await read(gateway, template))[:2] == (200, "MISS")
    assert (await read(gateway, template))[:2] == (200, "HIT")


@pytest.mark.parametrize("path", GET_ALL)
async def test_get_all_lists_pass_through_as_identifier_lists(
    gateway: Client, simulator: Simulator, path: str
) -> None:
    """The get-all lists reach the client as OL Connect's Identifier List of every set."""
    async with gateway.get(path, headers=ALL) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "application/json"
        identifiers = (await answer.json())["identifiers"]
    assert identifiers == list(range(1, 26))  # 100 segments: 25 sets of each kind


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "1", template)


@pytest.mark.parametrize(
    "route",
    [route for route in ROUTES if route.cache is None],
    ids=[f"{r.method} {r.template.removeprefix(B)}" for r in ROUTES if r.cache is None],
)
async def test_non_cacheable_routes_never_hit(gateway: Client, route: Any) -> None:
    """Whatever the upstream answers, a route without a cache policy is never answered from one."""
    for _ in range(2):
        async with gateway.request(route.method, _concrete(route.template), headers=ALL) as a:
            assert "X-Cache" not in a.headers
            assert "Cache-Status" not in a.headers


JOB_PROPERTIES = f"{E}/jobs/3/properties"


async def test_entity_reads_get_every_cache_feature(
    gateway: Client, simulator: Simulator, wall_clock: Any
) -> None:
    """Beyond job segments: coalescing, negative caching, stale-if-error, bypass, admin purge."""
    simulator.route_latency["jobs.properties_get"] = 0.05
    answers = await asyncio.gather(*(read(gateway, JOB_PROPERTIES) for _ in range(20)))
    assert {(status, body) for status, _, body in answers} == {(200, answers[0][2])}
    assert simulator.calls["jobs.properties_get"] == 1  # coalesced
    simulator.route_latency.clear()

    assert (await read(gateway, f"{E}/jobs/99999/properties"))[:2] == (404, "MISS")
    assert (await read(gateway, f"{E}/jobs/99999/properties"))[:2] == (404, "HIT")
    assert simulator.calls["jobs.properties_get"] == 2  # the 404 once

    async with gateway.get(JOB_PROPERTIES, headers={**ALL, "Cache-Control": "no-cache"}) as a:
        assert a.headers["X-Cache"] == "BYPASS"
    assert simulator.calls["jobs.properties_get"] == 3

    wall_clock.advance(61)  # past cache.ttl.properties
    simulator.fault = Fault.STATUS_500
    async with gateway.get(JOB_PROPERTIES, headers=ALL) as a:
        assert a.status == 200
        assert a.headers["X-Cache"] == "STALE"
        assert a.headers["Cache-Status"].startswith("olconnect-gateway; hit; ttl=-")
    simulator.fault = None

    assert (await read(gateway, JOB_PROPERTIES))[1] == "MISS"
    async with gateway.delete("/admin/cache/entity/jobs/3", headers=ALL) as purge:
        assert purge.status == 204
    assert (await read(gateway, JOB_PROPERTIES))[1] == "MISS"
    async with gateway.delete("/admin/cache/entity/nosuch/3", headers=ALL) as purge:
        assert purge.status == 404
    async with gateway.delete("/admin/cache/entity/jobs/abc", headers=ALL) as purge:
        assert purge.status == 400


async def test_added_records_drop_their_data_set_and_record_reads(
    gateway: Client, simulator: Simulator
) -> None:
    """`POST entity/datarecords` drops the data set's record list and the records' reads:
    the next reads are MISSes that show the new records."""
    records_of_set, nested = f"{E}/datasets/2", f"{E}/datarecords/5/values?recursive=true"
    before = {path: (await read(gateway, path))[2] for path in (records_of_set, nested)}
    assert {(await read(gateway, path))[1] for path in before} == {"HIT"}
    fields = {"fields": [{"name": "x", "value": "new"}]}
    additions = [
        {"datasetid": 2, "records": [fields]},
        {"recordid": 5, "table": "lines", "records": [fields]},
    ]
    await write(gateway, Write("POST", f"{E}/datarecords", additions))
    for path, old in before.items():
        status, outcome, after = await read(gateway, path)
        assert (status, outcome) == (200, "MISS"), path
        assert after != old, path
    assert simulator.calls["datarecords.add"] == 1


async def test_unlisted_entity_writes_invalidate_once_they_land(
    gateway: Client, simulator: Simulator
) -> None:
    """A write on a route the catalogue does not list (a newer OL Connect's) drops the entity
    it names and the job-set statistics when it succeeds — and nothing when it fails;
    one that names no entity drops its whole family."""
    metadata, stats = f"{E}/jobs/3/metadata", f"{B}/statistics/jobset/2"
    other_job = f"{E}/jobs/4/properties"

    async def outcomes() -> list[str]:
        return [(await read(gateway, path))[1] for path in (metadata, stats, other_job)]

    assert await outcomes() == ["MISS"] * 3
    entity_write = Write("PUT", f"{E}/jobs/3/newer", {"id": 3})
    async with gateway.put(entity_write.path, json=entity_write.body, headers=ALL) as answer:
        assert answer.status == 404  # OL Connect does not know it yet: nothing changed
    assert await outcomes() == ["HIT"] * 3
    simulator.newer_routes = {entity_write.path, f"{E}/jobs/newerbulk"}
    await write(gateway, entity_write)
    assert await outcomes() == ["MISS", "MISS", "HIT"]
    await write(gateway, Write("POST", f"{E}/jobs/newerbulk", [{"id": 4}]))
    assert await outcomes() == ["MISS", "MISS", "MISS"]
    assert simulator.calls["newer_route"] == 2
