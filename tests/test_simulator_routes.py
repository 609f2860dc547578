"""Every catalogued route is simulated (OLCONNECT-FIDELITY §1.C), each with its documented
request and answer: previews, HTML variants, PDF/VT, job creation variants, output by jobs,
all-in-one ad hoc and without data mapping, File Store internals, rasterizing."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from simulator_support import BASE, error_of, json_of, open_session

from gateway.catalogue import ROUTES, Action
from gateway.simulator import Simulator

WF = f"{BASE}/workflow"
CC = f"{WF}/contentcreation"
FS = f"{BASE}/filestore"
PDF = b"%PDF-1.4\n1 0 obj /Type /Pages\n2 0 obj /Type /Page\n3 0 obj /Type /Page\n%%EOF\n"


@pytest.fixture
async def client(simulator_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with open_session(simulator_server) as session:
        yield session


async def upload(
    client: aiohttp.ClientSession, data: bytes, name: str, kind: str = "DataFile"
) -> str:
    async with client.post(f"{FS}/{kind}?filename={name}", data=data) as resp:
        assert resp.status == 200
        return await resp.text()


async def result(
    client: aiohttp.ClientSession, service: str, path: str, body: object = None
) -> str:
    """Start an operation, poll it to `done`, answer its `getResult` text."""
    async with client.post(path, json=body) as resp:
        assert resp.status == 202, await resp.text()
        op_id = resp.headers["operationId"]
    while True:
        async with client.get(f"{WF}/{service}/getProgress/{op_id}") as resp:
            if await resp.text() == "done":
                break
    async with client.post(f"{WF}/{service}/getResult/{op_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.text()


def test_every_catalogued_route_is_simulated(simulator_server: TestServer) -> None:
    """Each forwarded or cached catalogue route (method, template) has a simulator route."""
    assert simulator_server.app is not None
    served = {
        (route.method, re.sub(r"\{[^}]*\}", "{}", route.resource.canonical))
        for route in simulator_server.app.router.routes()
        if route.resource is not None
    }
    for route in ROUTES:
        if route.action is Action.OWN:
            continue
        key = (route.method, re.sub(r"\{[^}]*\}", "{}", route.template))
        assert key in served, key


async def test_pdf_previews(client: aiohttp.ClientSession, simulator: Simulator) -> None:
    """By record (GET and POST), by data and by an uploaded data file: a new PDF's id."""
    ids = []
    for method in ("GET", "POST"):
        url = f"{CC}/pdfpreviewdirect?templateId=t.OL-template&dataRecordId=3"
        async with client.request(method, url) as resp:
            ids.append(await resp.text())
    async with client.post(f"{CC}/pdfpreview/t", json={"data": [{"name": "Ann"}]}) as resp:
        ids.append(await resp.text())
    async with client.post(f"{CC}/pdfpreview/t/dm?persist=false", data=b"a\nb\n") as resp:
        ids.append(await resp.text())
    assert len(set(ids)) == 4
    async with client.get(f"{FS}/file/{ids[2]}") as resp:
        assert b"name=Ann" in await resp.read()
    async with client.post(f"{CC}/pdfpreview/t/dm", data=b"") as resp:
        assert resp.status == 400  # the data file is the body (the vendor client omits it)
    async with client.get(f"{CC}/pdfpreviewdirect?templateId=t&dataRecordId=4000") as resp:
        assert resp.status == 404


async def test_image_previews(client: aiohttp.ClientSession) -> None:
    """PNG or JPEG of a record or of JSON data; several pages or `archive` make a zip."""
    url = f"{CC}/imagepreview?templateId=t&dataRecordId=2"
    async with client.post(url, json={"type": "png", "dpi": 96}) as resp:
        assert resp.content_type == "image/png"
        assert (await resp.read()).startswith(b"\x89PNG\r\n\x1a\n")
    async with client.post(url) as resp:  # no parameters: a JPEG
        assert resp.content_type == "image/jpeg"
        body = await resp.read()
        assert body[:2] == b"\xff\xd8"
        assert body[-2:] == b"\xff\xd9"
    data = {"data": [{"fields": {"a": "1"}}, {"fields": {"a": "2"}}], "pages": "*"}
    async with client.post(f"{CC}/imagepreview/t", json=data) as resp:
        assert resp.content_type == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(await resp.read())).namelist()
    assert names == ["t-preview_1.jpg", "t-preview_2.jpg"]
    async with client.post(url, json={"type": "gif"}) as resp:
        assert resp.status == 400


async def test_html_variants(client: aiohttp.ClientSession) -> None:
    """POST by record with HTML Parameters, POST by data, POST without data; sections checked."""
    async with client.post(f"{CC}/html/t/7", json={"section": "", "inline": "NONE"}) as resp:
        assert resp.content_type == "text/html"
        assert "<td>customer-7</td>" in await resp.text()
    async with client.post(f"{CC}/html/t/7", json={"cssSelector": "#record"}) as resp:
        assert (await resp.text()).startswith("<tr>")
    async with client.post(f"{CC}/html/t?section=Section%201", json={"data": {"x": "y"}}) as resp:
        assert "<td>y</td>" in await resp.text()
    async with client.post(f"{CC}/html/t") as resp:
        assert resp.status == 200
    async with client.get(f"{CC}/html/t/7?section=undefined&inline=ALL") as resp:
        assert resp.status == 400  # rest.js without a section sends `undefined`
        assert (await error_of(resp))["parameter"] == "undefined"


async def test_template_resources_report_and_runtime_parameters(
    client: aiohttp.ClientSession,
) -> None:
    """A template's members, its report (JSON, XML, 406, filter) and runtime parameters."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("images/logo.png", b"logo")
    template = await upload(client, archive.getvalue(), "t.OL-template", "template")
    async with client.get(f"{CC}/html/t.OL-template/images/logo.png") as resp:
        assert await resp.read() == b"logo"
    async with client.get(f"{FS}/template/report/{template}") as resp:
        report = await json_of(resp)
    assert report["template"]["manifest"]["images"] == ["images/logo.png"]
    url = f"{FS}/template/report/{template}?filter=sections"
    async with client.get(url, headers={"Accept": "application/xml"}) as resp:
        assert resp.content_type == "application/xml"
        assert b"<sections>" in await resp.read()
    async with client.get(url, headers={"Accept": "image/png"}) as resp:
        assert resp.status == 406
    async with client.get(f"{FS}/template/report/{template}?filter=nope") as resp:
        assert (await error_of(resp))["message"] == "Invalid filter"
    config = await upload(client, b"<c/>", "c.OL-datamapper", "DataMiningConfig")
    assert (
        await json_of(await client.get(f"{FS}/DataMiningConfig/runtimeparameters/{config}")) == []
    )
    async with client.get(f"{FS}/JobCreationConfig/runtimeparameters/{config}") as resp:
        assert resp.status == 404


async def test_internal_synchronisation_uploads(client: aiohttp.ClientSession) -> None:
    """`POST filestore/file|dir/{id}` store the body under that id (new or replaced)."""
    async with client.post(f"{FS}/file/40", data=b"first") as resp:
        assert await resp.text() == "40"
    async with client.post(f"{FS}/dir/40", data=b"second") as resp:
        assert await resp.text() == "40"
    async with client.get(f"{FS}/file/40") as resp:
        assert await resp.read() == b"second"


async def test_data_mapping_variants(client: aiohttp.ClientSession) -> None:
    """PDF/VT to a data set or a content set, and `createcontentset`: one record per page."""
    pdf = await upload(client, PDF, "in.pdf")
    data_set = await result(client, "datamining", f"{WF}/datamining/pdfvtds/{pdf}")
    assert (
        len((await json_of(await client.get(f"{BASE}/entity/datasets/{data_set}")))["identifiers"])
        == 2
    )
    content = await result(client, "datamining", f"{WF}/datamining/pdfvtcs/{pdf}")
    assert (
        len(
            (await json_of(await client.get(f"{BASE}/entity/contentsets/{content}")))["identifiers"]
        )
        == 2
    )
    body = {"identifier": "12", "defaults": {"duplex": False, "tumble": False}}
    assert (
        await result(client, "datamining", f"{WF}/datamining/createcontentset/{pdf}", body)
    ).isdigit()


async def test_content_creation_by_data(client: aiohttp.ClientSession) -> None:
    """By JSON data (flat or Record Data List) on the by-records URI, print and email."""
    body = {"data": [{"name": "Ann"}, {"fields": {"name": "Bob"}, "schema": {"columns": {}}}]}
    content_set = await result(client, "contentcreation", f"{CC}/t", body)
    items = (await json_of(await client.get(f"{BASE}/entity/contentsets/{content_set}")))[
        "identifiers"
    ]
    values = await json_of(
        await client.get(f"{BASE}/entity/datarecords/{items[1]['record']}/values")
    )
    assert values["fields"] == [{"name": "name", "value": "Bob"}]
    output = json.loads(await result(client, "contentcreation/email", f"{CC}/email/t", body))
    assert len(output["messages"]) == 2


async def test_job_creation_variants(client: aiohttp.ClientSession) -> None:
    """By structure, without a preset (both forms), and with no body at all."""
    structure = {"jobs": [{"segments": [{"documentsets": [{"documents": [
        {"documentpages": [{"contentitem": 1}, {"contentitem": 2}]}]}]}]}]}  # fmt: skip
    job_set = await result(client, "jobcreation", f"{WF}/jobcreation", structure)
    [job] = (await json_of(await client.get(f"{BASE}/entity/jobsets/{job_set}")))["identifiers"]
    contents = await json_of(await client.get(f"{BASE}/entity/jobs/{job}/contents"))
    assert [c["item"] for c in contents["identifiers"]] == [1, 2]
    for path, body in (
        (f"{WF}/jobcreation/default", {"identifiers": ["3"]}),
        (f"{WF}/jobcreation/default/3", None),
        (f"{WF}/jobcreation/preset.OL-jobpreset", None),
    ):
        assert (await result(client, "jobcreation", path, body)).isdigit(), path


async def test_output_creation_by_jobs_and_execute(client: aiohttp.ClientSession) -> None:
    """`{configId}/jobs` (misrouted before) and the PReS Enhance `execute` GET."""
    body = {"identifiers": [3, 4], "createOnly": True}
    output = await result(client, "outputcreation", f"{WF}/outputcreation/o/jobs", body)
    assert "output of jobs [3, 4] (preset o)" in output
    async with client.get(f"{WF}/outputcreation/execute/a/10") as resp:
        assert resp.status == 202


async def test_all_in_one_variants(client: aiohttp.ClientSession) -> None:
    """Without data mapping (records, or jobs), and ad hoc on an uploaded body, async or not."""
    body = {
        "contentcreation": {"identifiers": [1, 2], "config": "t"},
        "outputcreation": {"config": "o"},
    }
    assert "output of job set" in await result(client, "print", f"{WF}/print/submit", body)
    body = {"outputcreation": {"identifiers": [1], "config": "o"}}
    assert "output of jobs [1]" in await result(client, "print", f"{WF}/print/submit", body)
    async with client.post(f"{WF}/print/submit", json={"jobcreation": {}}) as resp:
        assert resp.status == 400
    adhoc = f"{WF}/print/dm/t/0/o"
    async with client.post(adhoc, data=b"a\nb\n") as resp:
        assert resp.status == 202
    async with client.post(f"{adhoc}?async=false", data=b"a\nb\n") as resp:
        assert resp.status == 200
        assert (await resp.read()).startswith(b"%PDF")


async def test_rasterize(client: aiohttp.ClientSession, simulator: Simulator) -> None:
    """The Conversion Service: a synchronous image of page 1, or a zip of the pages asked."""
    pdf = await upload(client, PDF, "doc.pdf")
    async with client.post(f"{WF}/rasterize/{pdf}", json={"type": "png"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "image/png"
    async with client.post(f"{WF}/rasterize/{pdf}", json={"archive": True}) as resp:
        names = zipfile.ZipFile(io.BytesIO(await resp.read())).namelist()
    assert names == ["doc_1.jpg", "doc_2.jpg"]
    async with client.post(f"{WF}/rasterize/{pdf}", json={"pages": "7"}) as resp:
        assert resp.status == 400
    async with client.post(f"{WF}/rasterize/999") as resp:
        assert resp.status == 404
    assert simulator.calls["rasterize.render"] == 4
