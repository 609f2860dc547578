"""The simulator's entity services, through real loopback sockets (100 segments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from simulator_support import BASE, JSON, error_of, json_of, open_session

from gateway.simulator import Simulator

E = f"{BASE}/entity"


@pytest.fixture
async def client(simulator_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A session on the simulator with good Basic credentials."""
    async with open_session(simulator_server) as session:
        yield session


async def get_json(client: aiohttp.ClientSession, path: str) -> Any:
    async with client.get(path) as resp:
        return await json_of(resp)


async def put_true(client: aiohttp.ClientSession, path: str, body: object) -> None:
    async with client.put(path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/plain"
        assert await resp.text() == "true"


async def test_job_set_tree_is_coherent(client: aiohttp.ClientSession) -> None:
    """Job set 2 → jobs 3, 4 → segments 5..8 → their document sets → two documents each."""
    assert await get_json(client, f"{E}/jobsets/2") == {"identifiers": [3, 4]}
    assert await get_json(client, f"{E}/jobs/3") == {"identifiers": [5, 6]}
    assert await get_json(client, f"{E}/jobsegments/5") == {"identifiers": [51, 52, 53]}
    assert await get_json(client, f"{E}/documentsets/52") == {"identifiers": [521, 522]}
    contents = await get_json(client, f"{E}/jobs/3/contents")
    assert contents == {"identifiers": [{"item": 5, "record": 5}, {"item": 6, "record": 6}]}


async def test_content_and_data_sets_are_coherent(client: aiohttp.ClientSession) -> None:
    """Content set 2 holds items 5..8, each rendering the record of data set 2 with its id."""
    items = await get_json(client, f"{E}/contentsets/2")
    assert items == {"identifiers": [{"item": i, "record": i} for i in range(5, 9)]}
    assert await get_json(client, f"{E}/datasets/2") == {"identifiers": [5, 6, 7, 8]}
    # A JSON Data Record Identifier: `record`, which the vendor's client reads (FIDELITY B2).
    assert await get_json(client, f"{E}/contentitems/7/datarecord") == {"record": 7}


@pytest.mark.parametrize(
    "path",
    [
        "jobsets/26",
        "jobs/51",
        "jobsegments/101",
        "documentsets/14",
        "documents/523/metadata",
        "datasets/0",
        "contentsets/abc",
        "contentitems/101/datarecord",
        "datarecords/101/properties",
        "jobs/51/contents",
        "contentsets/26/pages",
        "documents/99999999999999999999/metadata",
    ],
)
async def test_unknown_entities_are_404(client: aiohttp.ClientSession, path: str) -> None:
    """An id outside the model answers a 404 JSON Error naming the id as given."""
    async with client.get(f"{E}/{path}") as resp:
        assert resp.status == 404
        assert (await error_of(resp))["parameter"] == path.split("/")[1]


METADATA = ["jobsets/3", "jobs/5", "jobsegments/9", "documentsets/91", "documents/912"]
PROPERTIES = [
    "jobsets/3",
    "jobs/5",
    "contentsets/4",
    "contentitems/9",
    "datasets/4",
    "datarecords/9",
]


@pytest.mark.parametrize(
    ("path", "kind"), [(p, "metadata") for p in METADATA] + [(p, "properties") for p in PROPERTIES]
)
async def test_name_value_lists_round_trip(
    client: aiohttp.ClientSession, path: str, kind: str
) -> None:
    """A PUT replaces the whole list, answers `true`, and the next GET shows it."""
    before = await get_json(client, f"{E}/{path}/{kind}")
    assert before
    assert all(set(p) == {"name", "value"} for p in before)
    entity_id = int(path.split("/")[1])
    new = [{"name": "status", "value": "printed"}]
    await put_true(client, f"{E}/{path}/{kind}", {"id": entity_id, "properties": new})
    assert await get_json(client, f"{E}/{path}/{kind}") == new


@pytest.mark.parametrize(
    "path", ["jobsets/3/metadata", "contentsets/4/properties", "documents/912/metadata"]
)
async def test_name_value_put_id_mismatch_is_500(client: aiohttp.ClientSession, path: str) -> None:
    """A body id other than the path's answers 500, as OL Connect does, and changes nothing."""
    before = await get_json(client, f"{E}/{path}")
    async with client.put(f"{E}/{path}", json={"id": 1, "properties": []}) as resp:
        assert resp.status == 500
        assert (await error_of(resp))["parameter"] == "1"
    assert await get_json(client, f"{E}/{path}") == before


@pytest.mark.parametrize(
    "body", [b"nope", b"{}", b'{"id": 3, "properties": [{"name": 1, "value": "x"}]}']
)
async def test_name_value_put_malformed_is_400(client: aiohttp.ClientSession, body: bytes) -> None:
    """A body that is not the Name/Value shape answers 400."""
    async with client.put(f"{E}/jobsets/3/properties", data=body) as resp:
        assert resp.status == 400
        await error_of(resp)


@pytest.mark.parametrize("family", ["jobs", "contentitems", "datarecords"])
async def test_bulk_properties(client: aiohttp.ClientSession, family: str) -> None:
    """`PUT <family>/properties` updates every listed entity; an unknown id changes none."""
    body = [{"id": i, "properties": [{"name": "batch", "value": f"b{i}"}]} for i in (2, 3)]
    await put_true(client, f"{E}/{family}/properties", body)
    for i in (2, 3):
        assert await get_json(client, f"{E}/{family}/{i}/properties") == [
            {"name": "batch", "value": f"b{i}"}
        ]
    body = [{"id": 4, "properties": []}, {"id": 999, "properties": []}]
    async with client.put(f"{E}/{family}/properties", json=body) as resp:
        assert resp.status == 404
        assert (await error_of(resp))["parameter"] == "999"
    assert await get_json(client, f"{E}/{family}/4/properties") != []


async def test_record_values_recursive_and_formats(client: aiohttp.ClientSession) -> None:
    """`recursive=true` adds the nested detail records; the formats reshape the same values."""
    flat = await get_json(client, f"{E}/datarecords/3/values?recursive=false")
    deep = await get_json(client, f"{E}/datarecords/3/values?recursive=true")
    assert (
        flat["fields"]
        == deep["fields"]
        == [
            {"name": "customer", "value": "customer-3"},
            {"name": "amount", "value": "111.00"},
        ]
    )
    assert flat["records"] == []
    assert [r["table"] for r in deep["records"]] == ["detail", "detail"]
    nested = deep["records"][0]["id"]
    assert (await get_json(client, f"{E}/datarecords/{nested}/values"))["fields"][0][
        "value"
    ] == "3.1"
    simple = await get_json(
        client, f"{E}/datarecords/3/values?recursive=true&outputFormat=simplified"
    )
    assert simple["__recordid"] == 3
    assert simple["customer"] == "customer-3"
    assert [d["line"] for d in simple["detail"]] == ["3.1", "3.2"]
    typed = await get_json(client, f"{E}/datarecords/3/values?outputFormat=explicitTypes")
    assert typed["schema"] == {"columns": {"customer": "STRING", "amount": "STRING"}}
    # Query names are case-sensitive: `Recursive` is not `recursive`.
    assert await get_json(client, f"{E}/datarecords/3/values?Recursive=true") == flat


async def test_record_values_bad_output_format_is_400(client: aiohttp.ClientSession) -> None:
    """An unknown `outputFormat` answers 400 naming the parameter."""
    async with client.get(f"{E}/datarecords/3/values?outputFormat=xml") as resp:
        assert resp.status == 400
        assert (await error_of(resp))["parameter"] == "outputFormat"


async def test_record_values_updates(client: aiohttp.ClientSession) -> None:
    """PUT one record's values, then several; fields merge by name; a mismatch is 500."""
    body = {"id": 5, "fields": [{"name": "amount", "value": "1.00"}, {"name": "new", "value": "x"}]}
    await put_true(client, f"{E}/datarecords/5/values", body)
    fields = (await get_json(client, f"{E}/datarecords/5/values"))["fields"]
    assert fields == [
        {"name": "customer", "value": "customer-5"},
        {"name": "amount", "value": "1.00"},
        {"name": "new", "value": "x"},
    ]
    async with client.put(f"{E}/datarecords/5/values", json={**body, "id": 6}) as resp:
        assert resp.status == 500
    bulk = [{"id": i, "fields": [{"name": "customer", "value": f"c{i}"}]} for i in (6, 7)]
    await put_true(client, f"{E}/datarecords", bulk)
    many = await get_json(client, f"{E}/datarecords/values?id=7&id=6&id=7")
    assert [(r["id"], r["fields"][0]["value"]) for r in many] == [(7, "c7"), (6, "c6")]


async def test_record_values_of_several(client: aiohttp.ClientSession) -> None:
    """GET with repeated `id` and POST with `recordids` answer the same lists; an unknown id
    is the 400 the vendor's client maps to DataRecordNotFound."""
    by_get = await get_json(client, f"{E}/datarecords/values?id=1&id=2&recursive=true")
    body = {"recordids": [1, 2], "recursive": True, "outputFormat": "default", "optimized": True}
    async with client.post(f"{E}/datarecords/values", json=body) as resp:
        assert await json_of(resp) == by_get
    assert len(by_get) == 2
    assert all(r["records"] for r in by_get)
    async with client.get(f"{E}/datarecords/values?id=1&id=4000") as resp:
        assert resp.status == 400
        error = await error_of(resp)
        assert error["parameter"] == "4000"
        assert "refers to a missing resource" in error["message"]
    async with client.get(f"{E}/datarecords/values") as resp:
        assert resp.status == 400


async def test_add_records(client: aiohttp.ClientSession) -> None:
    """`POST entity/datarecords` adds records to a data set and nested records to a record."""
    body = [
        {"datasetid": 2, "records": [{"fields": [{"name": "customer", "value": "new"}]}]},
        {
            "recordid": 5,
            "table": "lines",
            "records": [{"fields": [{"name": "n", "value": "1"}]}],
        },
    ]
    async with client.post(f"{E}/datarecords", json=body) as resp:
        assert resp.status == 200
        assert await resp.text() == "true"
    records = (await get_json(client, f"{E}/datasets/2"))["identifiers"]
    assert records[:4] == [5, 6, 7, 8]
    assert len(records) == 5
    new_record = await get_json(client, f"{E}/datarecords/{records[4]}/values")
    assert new_record["fields"] == [{"name": "customer", "value": "new"}]
    deep = await get_json(client, f"{E}/datarecords/5/values?recursive=true")
    assert [r["table"] for r in deep["records"]] == ["detail", "detail", "lines"]
    missing = {"datasetid": 26, "records": []}
    async with client.post(f"{E}/datarecords", json=missing) as resp:
        assert resp.status == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", "datarecords/5/values", {"id": 5}, 400),
        ("PUT", "datarecords/5/values", {"id": 5, "fields": [{"name": 1, "value": "x"}]}, 400),
        ("PUT", "datarecords", {"id": 5, "fields": []}, 400),
        ("PUT", "datarecords", [{"id": "5x", "fields": []}], 400),
        ("POST", "datarecords/values", {"recordids": [1], "recursive": "yes"}, 400),
        ("POST", "datarecords/values", {"recordids": [1], "outputFormat": "csv"}, 400),
        ("POST", "datarecords/values", {"ids": [1]}, 400),
        # A New Record List OL Connect cannot read is a 500 (its README set says so).
        ("POST", "datarecords", {"records": []}, 500),
        ("POST", "datarecords", {"datasetid": 1, "recordid": 1, "records": []}, 500),
        ("POST", "datarecords", {"recordid": 1, "table": "", "records": []}, 500),
        ("POST", "datarecords", [{"datasetid": 1, "records": [{"values": []}]}], 500),
        ("POST", "datarecords", {"datasetid": 1, "records": [{"fields": {}}]}, 500),
        ("GET", "datarecords/values?id=x", None, 400),
    ],
)
async def test_record_writes_malformed_are_refused(
    client: aiohttp.ClientSession, method: str, path: str, body: object, status: int
) -> None:
    """A record body or query of the wrong shape is refused and changes nothing."""
    before = await get_json(client, f"{E}/datarecords/values?id=1&id=5&recursive=true")
    async with client.request(method, f"{E}/{path}", json=body) as resp:
        assert resp.status == status
        await error_of(resp)
    assert await get_json(client, f"{E}/datarecords/values?id=1&id=5&recursive=true") == before
    assert await get_json(client, f"{E}/datasets/1") == {"identifiers": [1, 2, 3, 4]}


@pytest.mark.parametrize(
    ("family", "entity_id", "below"),
    [
        (
            "jobsets",
            1,
            ["jobs/1", "jobs/2", "jobsegments/3", "documentsets/31", "documents/311/metadata"],
        ),
        ("datasets", 1, ["datarecords/2/properties", f"datarecords/{10**12 + 21}/properties"]),
        ("contentsets", 1, ["contentitems/2/properties"]),
    ],
)
async def test_delete_hides_the_set_and_everything_under_it(
    client: aiohttp.ClientSession,
    simulator: Simulator,
    family: str,
    entity_id: int,
    below: list[str],
) -> None:
    """`POST <set>/{id}/delete` answers `true`; then the set and its contents are 404."""
    async with client.post(f"{E}/{family}/{entity_id}/delete") as resp:
        assert resp.status == 200
        assert await resp.text() == "true"
    for path in [f"{family}/{entity_id}", *below]:
        async with client.get(f"{E}/{path}") as resp:
            assert resp.status == 404, path
    async with client.post(f"{E}/{family}/{entity_id}/delete") as resp:
        assert resp.status == 404
    assert await get_json(client, f"{E}/{family}/2")
    if family == "jobsets":
        with pytest.raises(KeyError):
            simulator.metadata(3)
    simulator.reset()
    assert await get_json(client, f"{E}/{family}/{entity_id}")


async def test_content_set_pages(client: aiohttp.ClientSession) -> None:
    """`pages?detail=` gives the Page Details summary `{pages: [{count, media}]}` or one
    `{id, pages}` per item (FIDELITY B5); the two agree; `detail` is a Java boolean."""
    detail = await get_json(client, f"{E}/contentsets/2/pages?detail=true")
    summary = await get_json(client, f"{E}/contentsets/2/pages?detail=false")
    assert [d["id"] for d in detail] == [5, 6, 7, 8]
    [total] = summary["pages"]
    assert total["count"] == sum(p["count"] for d in detail for p in d["pages"])
    assert total["media"] == {
        "name": "Plain Letter Paper",
        "size": "Letter",
        "width": "8.5in",
        "height": "11in",
    }
    assert await get_json(client, f"{E}/contentsets/2/pages?detail=TRUE") == detail
    assert await get_json(client, f"{E}/contentsets/2/pages") == summary


STATS = f"{BASE}/statistics/jobset"


async def test_statistics_level_modes(client: aiohttp.ClientSession) -> None:
    """The three level modes count the same job set at document or document-set level, in
    the documented body (FIDELITY B4); `documentOnly` is the default, in any letter case."""
    docs = await get_json(client, f"{STATS}/1")
    assert docs == await get_json(client, f"{STATS}/1?levelMode=DOCUMENTONLY")
    sets = await get_json(client, f"{STATS}/1?levelMode=documentSetOnly")
    full = await get_json(client, f"{STATS}/1?levelMode=documentsetall")
    assert docs["jobSetId"] == 1
    assert docs["counts"]["documents"] == len(docs["documents"]) == 24
    assert len(sets["documentSets"]) == len(full["documentSets"]) == 12
    assert "documents" not in sets["documentSets"][0]
    assert "documentSets" not in docs
    assert len(full["documentSets"][0]["documents"]) == 2
    pages = sum(d["counts"]["pages"] for d in docs["documents"])
    assert docs["counts"]["pages"] == sets["counts"]["pages"] == full["counts"]["pages"] == pages
    assert docs["media"][0]["count"] == pages
    first = docs["documents"][0]
    assert (first["documentId"], first["contentItemId"], first["dataRecordId"]) == (111, 1, 1)
    assert first["media"] == {"0": first["counts"]["pages"]}


async def test_statistics_follow_writes(client: aiohttp.ClientSession) -> None:
    """Job set `copies` multiplies pages; document `pages` metadata counts; the job set's
    metadata shows as `name=value` properties."""
    before = await get_json(client, f"{STATS}/1")
    await put_true(
        client,
        f"{E}/jobsets/1/metadata",
        {"id": 1, "properties": [{"name": "copies", "value": "2"}]},
    )
    doubled = await get_json(client, f"{STATS}/1")
    assert doubled["counts"]["pages"] == 2 * before["counts"]["pages"]
    assert doubled["properties"] == ["copies=2"]
    await put_true(
        client,
        f"{E}/documents/111/metadata",
        {"id": 111, "properties": [{"name": "pages", "value": "10"}]},
    )
    after = await get_json(client, f"{STATS}/1")
    first = before["documents"][0]
    assert first["documentId"] == 111
    grown = 2 * (10 - first["counts"]["pages"])
    assert after["counts"]["pages"] == doubled["counts"]["pages"] + grown


@pytest.mark.parametrize(
    ("query", "status"), [("1?levelMode=all", 400), ("26?levelMode=documentOnly", 404), ("x", 404)]
)
async def test_statistics_errors(client: aiohttp.ClientSession, query: str, status: int) -> None:
    """A bad levelMode is 400; an unknown job set is 404."""
    async with client.get(f"{STATS}/{query}") as resp:
        assert resp.status == status
        await error_of(resp)


async def test_json_answers_are_labelled_exactly(client: aiohttp.ClientSession) -> None:
    """Every JSON answer, the job segments' included, is `application/json` with no charset."""
    for path in [f"{E}/jobsegments/7", f"{E}/jobsegments/7/metadata", f"{E}/jobsets/1"]:
        async with client.get(path) as resp:
            assert resp.headers["Content-Type"] == JSON
