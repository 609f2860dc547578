"""The simulator's workflow operations, driven through real loopback sockets by their Links."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import MakeSimulator, MakeSimulatorServer
from simulator_support import BASE, error_of, json_of, open_session
from yarl import URL

from gateway.simulator import Simulator

WF = f"{BASE}/workflow"
CSV = b"name,amount\nalice,10\n\nbob,20\ncarol,30\n"


@pytest.fixture
async def client(simulator_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A session on the simulator with good Basic credentials."""
    async with open_session(simulator_server) as session:
        yield session


async def upload(client: aiohttp.ClientSession, data: bytes, name: str = "customers.csv") -> str:
    async with client.post(f"{BASE}/filestore/DataFile?filename={name}", data=data) as resp:
        assert resp.status == 200
        return await resp.text()


async def start(
    client: aiohttp.ClientSession, path: str, body: object = None
) -> tuple[str, dict[str, URL]]:
    """POST an operation start; check the 202 and absolute Links; return its id and Links."""
    async with client.post(path, json=body) as resp:
        assert resp.status == 202, await resp.text()
        op_id = resp.headers["operationId"]
        links: dict[str, URL] = {}
        for rel in ("progress", "result", "cancel"):
            url = resp.links[rel]["url"]
            assert isinstance(url, URL)
            links[rel] = url
        origin = resp.url.origin()
    for rel, url in links.items():
        assert url.is_absolute(), rel
        assert url.origin() == origin, rel
        assert url.path.endswith(f"/{op_id}")
    return op_id, links


async def run(client: aiohttp.ClientSession, links: dict[str, URL]) -> list[str]:
    """Poll the progress Link until `done`; the answers in order."""
    answers: list[str] = []
    while not answers or answers[-1] != "done":
        async with client.get(links["progress"]) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            answers.append(await resp.text())
        assert len(answers) < 20
    return answers


async def result_text(client: aiohttp.ClientSession, links: dict[str, URL]) -> str:
    async with client.post(links["result"]) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/plain"
        return await resp.text()


async def get_json(client: aiohttp.ClientSession, path: str) -> Any:
    async with client.get(path) as resp:
        return await json_of(resp)


async def test_full_flow_by_links(client: aiohttp.ClientSession) -> None:
    """Upload → data mapping → content → job → output creation → download, following Links."""
    file_id = await upload(client, CSV)
    _, links = await start(client, f"{WF}/datamining/customers.OL-datamapper/{file_id}")
    assert await run(client, links) == ["0", "50", "100", "done"]
    data_set = int(await result_text(client, links))
    records = (await get_json(client, f"{BASE}/entity/datasets/{data_set}"))["identifiers"]
    assert len(records) == 4  # one per non-blank line
    values = await get_json(client, f"{BASE}/entity/datarecords/{records[1]}/values")
    assert values["fields"] == [
        {"name": "line", "value": "alice,10"},
        {"name": "number", "value": "2"},
    ]

    _, links = await start(client, f"{WF}/contentcreation/letter.OL-template/{data_set}")
    await run(client, links)
    content_set = int(await result_text(client, links))
    items = (await get_json(client, f"{BASE}/entity/contentsets/{content_set}"))["identifiers"]
    assert [i["record"] for i in items] == records

    _, links = await start(
        client, f"{WF}/jobcreation/jobs.OL-jobpreset", {"identifiers": [content_set]}
    )
    await run(client, links)
    job_set = int(await result_text(client, links))
    [job] = (await get_json(client, f"{BASE}/entity/jobsets/{job_set}"))["identifiers"]
    segments = (await get_json(client, f"{BASE}/entity/jobs/{job}"))["identifiers"]
    assert len(segments) == 4
    contents = await get_json(client, f"{BASE}/entity/jobs/{job}/contents")
    assert contents == {"identifiers": items}
    metadata = await get_json(client, f"{BASE}/entity/jobsegments/{segments[0]}/metadata")
    assert metadata[0] == {"name": "customer", "value": f"customer-{segments[0]}"}

    op_id, links = await start(client, f"{WF}/outputcreation/print.OL-outputpreset/{job_set}")
    await run(client, links)
    async with client.post(links["result"]) as resp:
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Disposition"] == f'attachment; filename="jobset-{job_set}.pdf"'
        output = await resp.read()
    assert output.startswith(b"%PDF-1.4\n")
    assert f"job set {job_set} ".encode() in output
    for segment in segments:
        assert f"segment {segment} customer=customer-{segment}".encode() in output
    async with client.post(f"{WF}/outputcreation/getResultTxt/{op_id}") as resp:
        assert (await resp.text()).endswith(f"jobset-{job_set}.pdf")
    async with client.post(f"{WF}/outputcreation/getManagedResult/{op_id}") as resp:
        managed = await json_of(resp)  # {identifier, files}, as 2024.2 servers answer
    assert managed["files"] == [f"jobset-{job_set}.pdf"]
    async with client.get(f"{BASE}/filestore/file/{managed['identifier']}") as resp:
        assert await resp.read() == output


async def test_progress_steps_are_configurable(
    make_simulator: MakeSimulator, make_simulator_server: MakeSimulatorServer
) -> None:
    """`progress_steps` sets what the polls answer; none at all means done at once."""
    sim = make_simulator(progress_steps=(10, 90))
    async with open_session(await make_simulator_server(sim)) as client:
        file_id = await upload(client, CSV)
        _, links = await start(client, f"{WF}/datamining/c/{file_id}")
        assert await run(client, links) == ["10", "90", "done"]
        sim.progress_steps = ()
        _, links = await start(client, f"{WF}/datamining/c/{file_id}")
        assert (await result_text(client, links)).isdigit()


@pytest.mark.parametrize("keep", [False, True])
async def test_progress_forgets_a_finished_operation_unless_kept(
    make_simulator: MakeSimulator, make_simulator_server: MakeSimulatorServer, keep: bool
) -> None:
    """After `done` once, `getProgress` answers 404 as OL Connect does (its results stay);
    `keep_finished_operations` keeps answering `done`."""
    sim = make_simulator(progress_steps=(), keep_finished_operations=keep)
    async with open_session(await make_simulator_server(sim)) as client:
        file_id = await upload(client, CSV)
        op_id, links = await start(client, f"{WF}/datamining/c/{file_id}")
        assert await run(client, links) == ["done"]
        async with client.get(links["progress"]) as resp:
            if keep:
                assert await resp.text() == "done"
            else:
                assert resp.status == 404
                assert (await error_of(resp))["parameter"] == op_id
        assert (await result_text(client, links)).isdigit()


async def test_result_before_done_is_refused(client: aiohttp.ClientSession) -> None:
    """`getResult` before every step was answered is a 409 JSON Error; the work has not run."""
    file_id = await upload(client, CSV)
    op_id, links = await start(client, f"{WF}/datamining/c/{file_id}")
    async with client.get(links["progress"]) as resp:
        assert await resp.text() == "0"
    async with client.post(links["result"]) as resp:
        assert resp.status == 409
        assert (await error_of(resp))["parameter"] == op_id


async def test_operations_list_and_cancel(
    client: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """`getOperations` lists the running ones; `cancel` answers 204 and forgets the id."""
    file_id = await upload(client, CSV)
    op_id, links = await start(client, f"{WF}/datamining/c/{file_id}")
    async with client.get(links["progress"]) as resp:
        assert await resp.text() == "0"
    listed = await get_json(client, f"{WF}/datamining/getOperations")
    assert [(o["id"], o["type"], o["progress"]) for o in listed] == [
        (op_id, "DataMiningRestService", 0)
    ]
    assert await get_json(client, f"{WF}/contentcreation/getOperations") == []
    async with client.post(links["cancel"]) as resp:
        assert resp.status == 204
    for method, link in (
        ("GET", links["progress"]),
        ("POST", links["result"]),
        ("POST", links["cancel"]),
    ):
        async with client.request(method, link) as resp:
            assert resp.status == 404
    assert await get_json(client, f"{WF}/datamining/getOperations") == []
    assert simulator.calls["datamining.cancel"] == 2


async def test_operation_ids_belong_to_their_service(client: aiohttp.ClientSession) -> None:
    """A data mapping id is unknown to the other services' polling routes."""
    file_id = await upload(client, CSV)
    op_id, _ = await start(client, f"{WF}/datamining/c/{file_id}")
    async with client.get(f"{WF}/contentcreation/getProgress/{op_id}") as resp:
        assert resp.status == 404


@pytest.mark.parametrize(
    ("path", "body", "parameter"),
    [
        (f"{WF}/datamining/c/77", None, "77"),
        (f"{WF}/datamining/c", {"identifier": "absent.csv"}, "absent.csv"),
        (f"{WF}/contentcreation/t/26", None, "26"),
        (f"{WF}/contentcreation/t", {"identifiers": [1, 4000]}, "4000"),
        (f"{WF}/contentcreation/email/t/26", None, "26"),
        (f"{WF}/jobcreation/j", {"identifiers": [26]}, "26"),
        (f"{WF}/outputcreation/o/26", None, "26"),
        (f"{WF}/outputcreation/o", {"identifier": 26}, "26"),
        (f"{BASE}/converter/pstopdf/77", None, "77"),
    ],
)
async def test_starts_with_unknown_inputs_are_404(
    client: aiohttp.ClientSession, path: str, body: object, parameter: str
) -> None:
    """An operation on a file or entity that does not exist is refused at once with 404."""
    async with client.post(path, json=body) as resp:
        assert resp.status == 404
        assert (await error_of(resp))["parameter"] == parameter


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{WF}/jobcreation/j", {"identifiers": []}),
        (f"{WF}/jobcreation/j", {"ids": [1]}),
        (f"{WF}/print/submit", {"contentcreation": {}}),
        # All-in-one: a missing input is "Required Input resource/file not found", a 400.
        (f"{WF}/print/submit", {"datamining": {"identifier": 77}}),
    ],
)
async def test_starts_with_bad_bodies_are_400(
    client: aiohttp.ClientSession, path: str, body: object
) -> None:
    """A start body of the wrong shape is a 400 and starts nothing."""
    async with client.post(path, json=body) as resp:
        assert resp.status == 400
        await error_of(resp)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{WF}/datamining/c", [1]),  # "JSON Identifier bad or missing"
        (f"{WF}/outputcreation/o", {"id": 1}),  # "JSON Identifier invalid or missing ..."
        (f"{WF}/outputcreation/o/jobs", {"identifiers": "1"}),
    ],
)
async def test_starts_with_unreadable_identifiers_are_500(
    client: aiohttp.ClientSession, path: str, body: object
) -> None:
    """OL Connect answers a JSON Identifier it cannot read with a 500 JSON Error."""
    async with client.post(path, json=body) as resp:
        assert resp.status == 500
        assert "JSON Identifier" in (await error_of(resp))["message"]


async def test_content_creation_by_records_and_email(client: aiohttp.ClientSession) -> None:
    """Content creation by record ids, and email by data set, make content sets of those records."""
    _, links = await start(client, f"{WF}/contentcreation/t", {"identifiers": [3, 1]})
    await run(client, links)
    items = await get_json(client, f"{BASE}/entity/contentsets/{await result_text(client, links)}")
    assert [i["record"] for i in items["identifiers"]] == [3, 1]
    _, links = await start(client, f"{WF}/contentcreation/email/mail.OL-template/2")
    assert links["progress"].path.startswith(f"{WF}/contentcreation/email/getProgress/")
    await run(client, links)
    output = json.loads(await result_text(client, links))  # an Email Output List
    items = await get_json(client, f"{BASE}/entity/contentsets/{output['contentSet']}")
    assert [i["record"] for i in items["identifiers"]] == [5, 6, 7, 8]


@pytest.mark.parametrize("return_ids", [True, False])
async def test_all_in_one(client: aiohttp.ClientSession, return_ids: bool) -> None:
    """AIO runs every stage its config names; `returnIdInHeader` adds the X-*-ID headers."""
    file_id = await upload(client, CSV)
    config = {
        "datamining": {"identifier": int(file_id)},
        "contentcreation": {},
        "jobcreation": {},
        "outputcreation": {},
        "returnIdInHeader": return_ids,
    }
    op_id, links = await start(client, f"{WF}/print/submit", config)
    await run(client, links)
    async with client.post(links["result"]) as resp:
        output = await resp.read()
        headers = resp.headers
    if not return_ids:
        assert not any(h.startswith("X-") for h in headers)
        return
    assert headers["X-Result-Type"] == "OUTPUT"
    job_set = headers["X-Job-Set-ID"]
    assert f"job set {job_set} ".encode() in output
    records = (await get_json(client, f"{BASE}/entity/datasets/{headers['X-Data-Set-ID']}"))[
        "identifiers"
    ]
    items = (await get_json(client, f"{BASE}/entity/contentsets/{headers['X-Content-Set-ID']}"))[
        "identifiers"
    ]
    assert [i["record"] for i in items] == records
    async with client.post(f"{WF}/print/getManagedResult/{op_id}") as resp:
        assert resp.headers["X-Job-Set-ID"] == job_set
        assert isinstance((await json_of(resp))["identifier"], int)


async def test_all_in_one_data_mapping_only(client: aiohttp.ClientSession) -> None:
    """An AIO config with only data mapping answers the new data set's id."""
    file_id = await upload(client, CSV, "aio.csv")
    config = {"datamining": {"identifier": "aio.csv"}, "returnIdInHeader": True}
    _, links = await start(client, f"{WF}/print/submit", config)
    await run(client, links)
    async with client.post(links["result"]) as resp:
        assert resp.headers["X-Result-Type"] == "DATA_SET"
        assert await resp.text() == resp.headers["X-Data-Set-ID"]
    assert file_id.isdigit()


async def test_conversion(client: aiohttp.ClientSession) -> None:
    """`converter/pstopdf/{fileId}` makes a PDF naming its PostScript source."""
    file_id = await upload(client, b"%!PS-Adobe-3.0\nshowpage\n", "in.ps")
    _, links = await start(client, f"{BASE}/converter/pstopdf/{file_id}")
    await run(client, links)
    async with client.post(links["result"]) as resp:
        assert resp.headers["Content-Disposition"] == 'attachment; filename="in.ps.pdf"'
        assert b"converted from in.ps (24 bytes): %!PS-Adobe-3.0" in await resp.read()


async def test_html_render(client: aiohttp.ClientSession) -> None:
    """The synchronous HTML render shows the record's current values."""
    path = f"{WF}/contentcreation/html/letter.OL-template/7"
    async with client.get(path) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "<td>customer-7</td>" in await resp.text()
    async with client.get(f"{WF}/contentcreation/html/letter.OL-template/4000") as resp:
        assert resp.status == 404


async def test_starts_by_json_identifier(client: aiohttp.ClientSession) -> None:
    """Data mapping by a JSON file name and output creation by a JSON job set id work too."""
    await upload(client, CSV, "named.csv")
    _, links = await start(client, f"{WF}/datamining/c", {"identifier": "named.csv"})
    await run(client, links)
    data_set = await result_text(client, links)
    assert len((await get_json(client, f"{BASE}/entity/datasets/{data_set}"))["identifiers"]) == 4
    _, links = await start(client, f"{WF}/outputcreation/o", {"identifier": 1})
    await run(client, links)
    async with client.post(links["result"]) as resp:
        assert b"% segment 4 customer=customer-4\n" in await resp.read()
