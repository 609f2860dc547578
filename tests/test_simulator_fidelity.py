"""The simulator answers as OL Connect does (SPEC 10.8, OLCONNECT-FIDELITY §1.B), directly.

Each test names the fidelity item it holds; the simulator served on loopback, 100 segments.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import MakeSimulator, MakeSimulatorServer
from simulator_support import BASE, error_of, json_of, open_session

from gateway.simulator import ManagedResult, Simulator

E = f"{BASE}/entity"
WF = f"{BASE}/workflow"
CSV = b"name\nalice\nbob\n"
ORIGIN = "simulator"  # every entity's derived `origin` property
NOT_10 = "customer-10"


@pytest.fixture
async def client(simulator_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with open_session(simulator_server) as session:
        yield session


async def upload(client: aiohttp.ClientSession, data: bytes, name: str = "in.csv") -> str:
    async with client.post(f"{BASE}/filestore/DataFile?filename={name}", data=data) as resp:
        assert resp.status == 200
        return await resp.text()


async def start(client: aiohttp.ClientSession, path: str, body: object = None) -> str:
    async with client.post(path, json=body) as resp:
        assert resp.status == 202, await resp.text()
        return resp.headers["operationId"]


async def finish(client: aiohttp.ClientSession, service: str, op_id: str) -> None:
    """Poll until `done` (the first `done`: later polls are 404)."""
    for _ in range(10):
        async with client.get(f"{WF}/{service}/getProgress/{op_id}") as resp:
            assert resp.status == 200
            if await resp.text() == "done":
                return
    raise AssertionError("never done")


async def find(client: aiohttp.ClientSession, body: object) -> list[list[dict[str, Any]]]:
    async with client.put(f"{E}/find", json=body) as resp:
        result: list[list[dict[str, Any]]] = await json_of(resp)
        return result


@pytest.mark.parametrize("family", ["jobsets", "datasets", "contentsets"])
async def test_b1_get_all_lists(
    client: aiohttp.ClientSession, simulator: Simulator, family: str
) -> None:
    """B1: the root GET answers the JSON Identifier List of every set, new ones included,
    deleted ones not."""
    assert await json_of(await client.get(f"{E}/{family}")) == {"identifiers": list(range(1, 26))}
    async with client.post(f"{E}/{family}/3/delete") as resp:
        assert resp.status == 200
    assert 3 not in (await json_of(await client.get(f"{E}/{family}")))["identifiers"]
    assert simulator.calls[f"{family}.all"] == 2


async def test_b1_content_sets_by_type(client: aiohttp.ClientSession) -> None:
    """`GET entity/contentsets?type=` (the vendor client's optional filter): print or email."""
    op_id = await start(client, f"{WF}/contentcreation/email/t/1")
    await finish(client, "contentcreation/email", op_id)
    async with client.post(f"{WF}/contentcreation/email/getResult/{op_id}") as resp:
        email_set = json.loads(await resp.text())["contentSet"]
    assert (await json_of(await client.get(f"{E}/contentsets?type=EMAIL")))["identifiers"] == [
        email_set
    ]
    printed = (await json_of(await client.get(f"{E}/contentsets?type=print")))["identifiers"]
    assert email_set not in printed
    assert len(printed) == 25


async def test_b3_find_in_the_2019_2_form(client: aiohttp.ClientSession) -> None:
    """B3: `ruleType`/`condition` rule sets, sort keys, groups, and the answer shape."""
    body = {
        "entity": "DATARECORDS",
        "search": {
            "ruleType": "RULESET",
            "condition": "ANY",
            "rules": [
                {
                    "ruleType": "VALUE",
                    "fieldName": "customer",
                    "condition": "EQ",
                    "value1": "customer-3",
                },
                {
                    "ruleType": "VALUE",
                    "fieldName": "customer",
                    "condition": "STARTS_WITH",
                    "value1": "customer-2",
                },
            ],
        },
        "sort": [{"type": "value", "name": "customer", "order": "DESC"}],
    }
    [found] = await find(client, body)
    assert [f["identifier"] for f in found] == [3, *range(29, 19, -1), 2]
    assert found[0] == {"identifier": 3, "sortkey": "customer-3"}
    grouped = await find(
        client,
        {
            "entity": "JOBSETS",
            "search": {"ruleType": "RULESET", "condition": "ALL", "rules": [
                {"ruleType": "PROPERTY", "property": "origin", "condition": "EQ", "value": ORIGIN}
            ]},
            "group": [{"type": "property", "name": "label", "order": "ASC"}],
            "setIds": [1, 2],
        },
    )  # fmt: skip
    assert grouped == [
        [{"identifier": 1, "sortkey": ""}],
        [{"identifier": 2, "sortkey": ""}],
    ]


async def test_b3_find_in_the_vendor_clients_form(client: aiohttp.ClientSession) -> None:
    """B3: the older `operator` form the vendor's client sends, with IN rules and nesting."""
    await client.put(
        f"{E}/contentitems/6/properties",
        json={"id": 6, "properties": [{"name": "tag", "value": "x"}]},
    )
    body = {
        "entity": "CONTENTITEMS",
        "search": {
            "operator": "OR",
            "rules": [
                {"type": "property", "name": "tag", "condition": "EQUAL", "value": "x"},
                {"operator": "AND", "rules": [
                    {"type": "IN", "identifiers": [9, 10, 11]},
                    {"type": "value", "name": "customer", "condition": "NOTEQUAL", "value": NOT_10},
                ]},
            ],
        },
        "sort": [],
        "group": [],
    }  # fmt: skip
    assert [f["identifier"] for f in (await find(client, body))[0]] == [6, 9, 11]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"entity": "DOCUMENT", "search": {"operator": "AND", "rules": []}}',
        b'{"entity": "JOBS"}',
        b'{"entity": "JOBS", "search": {"ruleType": "RULESET", "condition": "AND", "rules": []}}',
        b'{"entity": "JOBS", "search": {"operator": "AND", "rules": [{"type": "value"}]}}',
    ],
)
async def test_b3_find_bad_input_is_500(client: aiohttp.ClientSession, body: bytes) -> None:
    """B3: a search OL Connect cannot read is a 500 JSON Error "Invalid JSON structure"."""
    async with client.put(f"{E}/find", data=body) as resp:
        assert resp.status == 500
        assert (await error_of(resp))["message"] == "Invalid JSON structure"


async def test_b6_email_result_is_an_email_output_list(client: aiohttp.ClientSession) -> None:
    """B6: email `getResult` is the JSON Email Output List, labelled text/plain; `folder` is
    a File Store zip of the message bodies."""
    op_id = await start(client, f"{WF}/contentcreation/email/invoice", {"identifiers": [2, 3]})
    await finish(client, "contentcreation/email", op_id)
    async with client.post(f"{WF}/contentcreation/email/getResult/{op_id}") as resp:
        assert resp.content_type == "text/plain"
        output = json.loads(await resp.text())
    assert output["errors"] == []
    assert [m["to"] for m in output["messages"]] == [
        "customer-2@example.com",
        "customer-3@example.com",
    ]
    folder = output["messages"][0]["folder"]
    async with client.get(f"{BASE}/filestore/file/{folder}") as resp:
        assert (await resp.read()).startswith(b"PK")
    items = await json_of(await client.get(f"{E}/contentsets/{output['contentSet']}"))
    assert [i["record"] for i in items["identifiers"]] == [2, 3]


@pytest.mark.parametrize("form", [ManagedResult.JSON, ManagedResult.TEXT])
async def test_b7_managed_result_in_either_form(
    make_simulator: MakeSimulator, make_simulator_server: MakeSimulatorServer, form: ManagedResult
) -> None:
    """B7: `getManagedResult` is `{identifier, files}` JSON (default) or the text id."""
    server = await make_simulator_server(make_simulator(managed_result=form))
    async with open_session(server) as client:
        op_id = await start(client, f"{WF}/outputcreation/o/1")
        await finish(client, "outputcreation", op_id)
        async with client.post(f"{WF}/outputcreation/getManagedResult/{op_id}") as resp:
            if form is ManagedResult.JSON:
                assert await json_of(resp) == {"identifier": 1, "files": ["jobset-1.pdf"]}
            else:
                assert resp.content_type == "text/plain"
                assert await resp.text() == "1"


async def test_b8_validate_and_failing_mappings(client: aiohttp.ClientSession) -> None:
    """B8: `validate=true` answers a Data Mapping Validation Result; a mapping that fails
    answers `getResult` 500 "Error executing DM configuration"."""
    good, bad = await upload(client, CSV), await upload(client, b"ok\n\xff\xfe\n", "bad.csv")
    op_id = await start(client, f"{WF}/datamining/cfg", {"identifier": good})
    await finish(client, "datamining", op_id)
    op_id = await start(client, f"{WF}/datamining/cfg/{good}?validate=True")
    await finish(client, "datamining", op_id)
    async with client.post(f"{WF}/datamining/getResult/{op_id}") as resp:
        assert json.loads(await resp.text()) == {"result": "OK", "recordcount": 3, "errors": []}
    op_id = await start(client, f"{WF}/datamining/cfg?validate=true", {"identifier": int(bad)})
    await finish(client, "datamining", op_id)
    async with client.post(f"{WF}/datamining/getResult/{op_id}") as resp:
        report = json.loads(await resp.text())
    assert (report["result"], report["recordcount"]) == ("ERROR", 2)
    assert report["errors"][0]["record"] == 2
    op_id = await start(client, f"{WF}/datamining/cfg/{bad}")
    await finish(client, "datamining", op_id)
    async with client.post(f"{WF}/datamining/getResult/{op_id}") as resp:
        assert resp.status == 500
        assert (await error_of(resp))["message"] == "Error executing DM configuration"


async def test_b9_finished_operations_are_forgotten(client: aiohttp.ClientSession) -> None:
    """B9: after `done` once, `getProgress` is 404; the result stays available."""
    op_id = await start(client, f"{WF}/jobcreation/j", {"identifiers": [1]})
    await finish(client, "jobcreation", op_id)
    async with client.get(f"{WF}/jobcreation/getProgress/{op_id}") as resp:
        assert resp.status == 404
        assert (await error_of(resp))["parameter"] == op_id
    async with client.post(f"{WF}/jobcreation/getResult/{op_id}") as resp:
        assert (await resp.text()).isdigit()


async def test_b12_values_body_and_unknown_id(client: aiohttp.ClientSession) -> None:
    """B12: values carry `table`/`datasetid` (root) and `table`/`parentrecordid` (nested);
    `explicitTypes=true` (deprecated) still works; an unknown id answers 500."""
    deep = await json_of(await client.get(f"{E}/datarecords/5/values?recursive=true"))
    assert (deep["table"], deep["datasetid"]) == ("record", 2)
    nested = deep["records"][0]
    assert (nested["table"], nested["parentrecordid"]) == ("detail", 5)
    typed = await json_of(await client.get(f"{E}/datarecords/5/values?explicitTypes=true"))
    assert typed["fields"] == {"customer": "customer-5", "amount": "185.00"}
    assert typed["datasetid"] == 2
    async with client.get(f"{E}/datarecords/4000/values") as resp:
        assert resp.status == 500
        assert (await error_of(resp))["parameter"] == "4000"


async def test_b16_operations_list_names_the_template(client: aiohttp.ClientSession) -> None:
    """B16: a content creation operation is listed with its `template`."""
    op_id = await start(client, f"{WF}/contentcreation/letter.OL-template/1")
    listed = await json_of(await client.get(f"{WF}/contentcreation/getOperations"))
    assert listed[0]["id"] == op_id
    assert listed[0]["template"] == "letter.OL-template"


async def test_b17_booleans_are_java_booleans(client: aiohttp.ClientSession) -> None:
    """B17: `recursive`, `detail` read `True`/`TRUE` as true and anything else as false."""
    flat = await json_of(await client.get(f"{E}/datarecords/3/values"))
    assert (await json_of(await client.get(f"{E}/datarecords/3/values?recursive=TRUE")))["records"]
    assert await json_of(await client.get(f"{E}/datarecords/3/values?recursive=yes")) == flat


async def test_head_on_the_authentication_handshake(
    client: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """§1.D: the vendor client's token check, `HEAD authentication`: 200 valid, 401 not."""
    token = simulator.issue_token()
    async with client.head(f"{BASE}/authentication", headers={"auth_token": token}) as resp:
        assert resp.status == 200
    async with client.head(f"{BASE}/authentication", headers={"auth_token": "stale"}) as resp:
        assert resp.status == 401


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"{BASE}/filestore/", "Server Engine REST Service available: FileStoreRestService"),
        (f"{E}/jobsegments/", "Server Engine REST Service available: JobSegmentEntityRestService"),
        (f"{E}/jobsets/", '{"identifiers":['),
    ],
)
async def test_a5_roots_answer_with_a_trailing_slash(
    client: aiohttp.ClientSession, path: str, expected: str
) -> None:
    """A5: `GET filestore/` (the C# client's handshake) answers like the root, as JAX-RS does."""
    async with client.get(path) as resp:
        assert resp.status == 200
        assert (await resp.text()).startswith(expected)
