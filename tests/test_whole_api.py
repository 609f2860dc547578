"""The whole OL Connect API through the one endpoint (SPEC §8): a real flow, and the scope table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import KEYS, MakeConfig, MakeGateway, client_entries, key_header
from schema_check import answer_problems, request_problems
from yarl import URL

from gateway.config.model import key_digest
from gateway.simulator import Simulator

Client = TestClient[Any, Any]
BASE = "/rest/serverengine"
WF = f"{BASE}/workflow"
ALL = key_header("admin")  # read, write, run, files, admin
CSV = b"name,amount\nalice,10\nbob,20\ncarol,30\n"


async def start(gateway: Client, path: str, body: object = None) -> dict[str, str]:
    """Start an operation through the gateway; its Links, which must point at the gateway.
    A JSON body must fit the route's request schema in /openapi.json."""
    if body is not None:
        assert request_problems("POST", path, body) == [], path
    async with gateway.post(path, json=body, headers=ALL) as answer:
        assert answer.status == 202, await answer.text()
        assert answer.headers["operationId"]
        links = {rel: link["url"] for rel, link in answer.links.items()}
    relative = {}
    for rel, url in links.items():
        assert isinstance(url, URL)
        assert url.origin() == gateway.make_url("").origin(), rel  # never OL Connect's
        relative[rel] = url.raw_path
    return relative


async def wait_done(gateway: Client, links: dict[str, str]) -> None:
    """Poll the progress Link until OL Connect says done."""
    progress: list[str] = []
    while not progress or progress[-1] != "done":
        async with gateway.get(links["progress"], headers=ALL) as answer:
            assert answer.status == 200
            progress.append(await answer.text())
        assert len(progress) < 20


async def finish(gateway: Client, links: dict[str, str]) -> str:
    """Wait for the operation, then fetch the result Link (a POST, as OL Connect wants)."""
    await wait_done(gateway, links)
    async with gateway.post(links["result"], headers=ALL) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.text()


async def read_json(gateway: Client, path: str) -> Any:
    """A JSON read through the gateway; its answer must fit the route's response schema."""
    async with gateway.get(path, headers=ALL) as answer:
        assert answer.status == 200, await answer.text()
        assert answer.headers[hdrs.CONTENT_TYPE] == "application/json"
        raw = await answer.read()
    assert answer_problems("GET", path, 200, "application/json", raw) == [], path
    return json.loads(raw)


async def test_whole_flow_through_the_gateway_with_only_a_gateway_key(
    gateway: Client, simulator: Simulator
) -> None:
    """Upload, data mapping, content, job and output creation by their Links, download, read
    what it produced — with a gateway key only; OL Connect never sees a client credential."""
    async with gateway.post(
        f"{BASE}/filestore/DataFile?filename=in.csv", data=CSV, headers=ALL
    ) as a:
        assert a.status == 200
        data_file = await a.text()
    links = await start(gateway, f"{WF}/datamining/customers.OL-datamapper/{data_file}")
    data_set = int(await finish(gateway, links))
    records = (await read_json(gateway, f"{BASE}/entity/datasets/{data_set}"))["identifiers"]
    assert len(records) == 4  # one per line

    links = await start(gateway, f"{WF}/contentcreation/letter.OL-template/{data_set}")
    content_set = int(await finish(gateway, links))
    links = await start(
        gateway, f"{WF}/jobcreation/jobs.OL-jobpreset", {"identifiers": [content_set]}
    )
    job_set = int(await finish(gateway, links))
    [job] = (await read_json(gateway, f"{BASE}/entity/jobsets/{job_set}"))["identifiers"]
    segments = (await read_json(gateway, f"{BASE}/entity/jobs/{job}"))["identifiers"]
    metadata = await read_json(gateway, f"{BASE}/entity/jobsegments/{segments[0]}/metadata")
    assert {"name": "customer", "value": f"customer-{segments[0]}"} in metadata

    links = await start(gateway, f"{WF}/outputcreation/print.OL-outputpreset/{job_set}")
    await wait_done(gateway, links)
    async with gateway.post(links["result"], headers=ALL) as answer:
        assert answer.status == 200
        assert answer.headers[hdrs.CONTENT_DISPOSITION].startswith("attachment;")
        output = await answer.read()
    assert output.startswith(b"%PDF")
    assert f"job set {job_set} ".encode() in output

    client_keys = set(KEYS.values())
    for route, seen in simulator.last_request.items():
        for name, value in seen.headers.items():
            assert not any(key in value for key in client_keys), (route, name)
        if route != "login":  # the gateway's own login is the one Basic credential sent
            assert "Authorization" not in seen.headers, route
            assert "X-API-Key" not in seen.headers, route


# (method, path, the scopes that may call it: any one will do). One row per line of SPEC
# §8.3's table, a handshake and a version of each service family (issue 19 item 5: `read`
# or the service's own scope), and unlisted routes of known services, whose scopes follow
# from service and method.
SCOPE_TABLE = [
    ("GET", f"{BASE}/entity/jobs/1/metadata", "read"),
    ("HEAD", f"{BASE}/entity/jobs/1", "read"),
    ("GET", f"{BASE}/entity/jobsets", "read"),  # get-all list (SPEC §10.1)
    ("GET", f"{BASE}/statistics/jobset/1", "read"),
    ("GET", f"{BASE}/entity/jobs", "read"),  # an entity service's handshake: read alone
    ("GET", f"{BASE}/entity/jobs/version", "read"),
    ("GET", f"{BASE}/statistics/version", "read"),
    ("GET", f"{BASE}/authentication/version", "read"),
    ("GET", f"{BASE}/workflow/datamining", "read run"),  # a workflow handshake
    ("GET", f"{BASE}/workflow/datamining/version", "read run"),
    ("HEAD", f"{BASE}/workflow/print/version", "read run"),
    ("GET", f"{BASE}/converter", "read run"),
    ("GET", f"{BASE}/converter/version", "read run"),
    ("GET", f"{BASE}/filestore", "read files"),
    ("GET", f"{BASE}/filestore/", "read files"),  # the C# client's handshake
    ("GET", f"{BASE}/filestore/version", "read files"),
    ("PUT", f"{BASE}/entity/find", "read"),
    ("POST", f"{BASE}/entity/datarecords/values", "read"),
    ("PUT", f"{BASE}/entity/jobs/1/properties", "write"),
    ("PUT", f"{BASE}/entity/jobs/properties", "write"),
    ("POST", f"{BASE}/entity/jobsets/1/delete", "write"),
    ("POST", f"{BASE}/entity/datarecords", "write"),
    ("DELETE", f"{BASE}/entity/jobs/1", "write"),  # unlisted
    ("POST", f"{BASE}/workflow/datamining/cfg/1", "run"),
    ("GET", f"{BASE}/workflow/datamining/getProgress/1", "run"),
    ("POST", f"{BASE}/workflow/outputcreation/cancel/1", "run"),
    ("GET", f"{BASE}/workflow/contentcreation/html/t/1", "run"),
    ("GET", f"{BASE}/workflow/contentcreation/pdfpreviewdirect", "run"),
    ("GET", f"{BASE}/workflow/outputcreation/execute/a/1", "run"),
    ("POST", f"{BASE}/converter/pstopdf/1", "run"),
    ("POST", f"{BASE}/workflow/rasterize/1", "run"),  # the Conversion Service (SPEC 10.5)
    ("POST", f"{BASE}/workflow/jobcreation/default", "run"),
    ("GET", f"{BASE}/converter/getProgress/1", "run"),  # unlisted
    ("POST", f"{BASE}/filestore/DataFile?filename=a", "files"),
    ("GET", f"{BASE}/filestore/file/1", "files"),
    ("HEAD", f"{BASE}/filestore/file/1", "files"),
    ("GET", f"{BASE}/filestore/delete/1", "files"),
    ("POST", f"{BASE}/filestore/delete/1", "files"),
    ("GET", f"{BASE}/filestore/resources", "files"),
    ("DELETE", "/admin/cache", "admin"),
    ("DELETE", "/admin/cache/entity/jobs/1", "admin"),
    ("DELETE", "/admin/cache/jobs/1", "admin"),
]
SCOPES = ("read", "write", "run", "files", "admin")


@pytest.fixture
async def scoped_gateway(make_config: MakeConfig, make_gateway: MakeGateway) -> Client:
    """The gateway with one client per scope, each holding that scope alone."""
    clients = client_entries() + [
        {
            "name": f"only-{scope}",
            "key_sha256": key_digest(f"olcg_only_{scope}_key_0123"),
            "scopes": [scope],
        }
        for scope in SCOPES
    ]
    return await make_gateway(make_config(clients=clients))


@pytest.mark.parametrize(("method", "path", "scopes"), SCOPE_TABLE)
async def test_scope_table_of_spec_8_3(
    scoped_gateway: Client, simulator: Simulator, method: str, path: str, scopes: str
) -> None:
    """Exactly the clients holding one of the route's scopes get past auth; the others get
    403 naming the scopes that would do."""
    accepted = scopes.split()
    for holder in SCOPES:
        headers = {"X-API-Key": f"olcg_only_{holder}_key_0123"}
        async with scoped_gateway.request(method, path, headers=headers) as answer:
            if holder in accepted:
                assert answer.status != 403, (holder, await answer.text())
            else:
                assert answer.status == 403, (holder, answer.status)
                if method != "HEAD":
                    error = (await answer.json())["error"]
                    assert error["parameter"] == ",".join(accepted)


def test_keygen_accepts_the_new_scopes() -> None:
    """`keygen --scopes run,files` prints an entry with those scopes."""
    from gateway.cli.commands import main

    assert main(["keygen", "--name", "batch", "--scopes", "run,files"]) == 0


async def test_all_in_one_result_headers_pass_back_through_the_gateway(gateway: Client) -> None:
    """An all-in-one run's result keeps OL Connect's X-*-ID and X-Result-Type headers (§8.2)."""
    async with gateway.post(
        f"{BASE}/filestore/DataFile?filename=aio.csv", data=CSV, headers=ALL
    ) as a:
        data_file = int(await a.text())
    config = {
        "datamining": {"identifier": data_file},
        "contentcreation": {},
        "jobcreation": {},
        "outputcreation": {},
        "returnIdInHeader": True,
    }
    links = await start(gateway, f"{WF}/print/submit", config)
    await wait_done(gateway, links)
    async with gateway.post(links["result"], headers=ALL) as answer:
        assert answer.status == 200
        headers = answer.headers
        output = await answer.read()
    assert headers["X-Result-Type"] == "OUTPUT"
    assert f"job set {headers['X-Job-Set-ID']} ".encode() in output
    data_set = await read_json(gateway, f"{BASE}/entity/datasets/{headers['X-Data-Set-ID']}")
    assert data_set["identifiers"]
    assert headers["X-Content-Set-ID"].isdigit()


async def test_real_routes_of_spec_10_5_through_the_gateway(
    gateway: Client, simulator: Simulator
) -> None:
    """The Conversion Service answers images at once, `POST filestore/delete` deletes, job
    creation without a preset starts: each forwarded, each with its catalogue label."""
    pdf = b"%PDF-1.4\n1 0 obj /Type /Page\n%%EOF\n"
    async with gateway.post(
        f"{BASE}/filestore/DataFile?filename=d.pdf", data=pdf, headers=ALL
    ) as a:
        file_id = await a.text()
    async with gateway.post(f"{WF}/rasterize/{file_id}", json={"type": "png"}, headers=ALL) as a:
        assert a.status == 200, await a.text()
        assert a.headers[hdrs.CONTENT_TYPE] == "image/png"
        assert (await a.read()).startswith(b"\x89PNG")
    links = await start(gateway, f"{WF}/jobcreation/default", {"identifiers": [1]})
    assert int(await finish(gateway, links)) > 0
    async with gateway.post(f"{BASE}/filestore/delete/{file_id}", headers=ALL) as a:
        assert (a.status, await a.text()) == (200, "true")
    assert simulator.files.find(file_id) is None
    assert simulator.calls["rasterize.render"] == 1
    assert simulator.calls["filestore.delete_post"] == 1
