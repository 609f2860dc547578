"""GETs that change state (SPEC §10.2, FIDELITY A2): HEAD is a 405 and never forwarded,
nothing is cached, and a broken connection is never followed by a second send.

The simulator answers HEAD as OL Connect (a JAX-RS server) does: by running the GET,
so `HEAD filestore/delete/{id}` deletes the file there
(tests/test_simulator_filestore.py::test_head_on_delete_runs_the_get_as_jax_rs_does).
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import MakeGatewayFor, MakeSimulator, key_header

from gateway.catalogue import ROUTES, Action, Kind, Scope
from gateway.edge import openapi
from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault

Client = TestClient[Any, Any]
B = "/rest/serverengine"
ADMIN = key_header("admin")
UNSAFE = {
    f"{B}/filestore/delete/{{fileId}}",
    f"{B}/workflow/contentcreation/pdfpreviewdirect",
    f"{B}/workflow/contentcreation/html/{{templateId}}/{{dataRecordId:[0-9]+}}",
    f"{B}/workflow/outputcreation/execute/{{args}}/{{size}}",
}


@pytest.mark.parametrize(
    "path",
    [
        f"{B}/filestore/delete/FILE",
        f"{B}/filestore/delete/FILE/",  # the trailing-slash twin too
        f"{B}/workflow/contentcreation/pdfpreviewdirect?templateId=t&dataRecordId=1",
        f"{B}/workflow/contentcreation/html/letter/1",
        f"{B}/workflow/outputcreation/execute/a/1",
    ],
)
async def test_unsafe_head_is_405_and_never_forwarded(
    gateway: Client, simulator: Simulator, path: str
) -> None:
    """HEAD on a GET that changes state: 405 with `Allow: GET`, nothing sent, the file kept."""
    file_id = simulator.generate_file("keep.bin", 3)
    async with gateway.head(path.replace("FILE", str(file_id)), headers=ADMIN) as answer:
        assert answer.status == 405
        assert answer.headers[hdrs.ALLOW] == "GET"
    assert sum(simulator.calls.values()) == 0
    assert simulator.files.find(str(file_id)) is not None


async def test_unsafe_get_still_deletes(gateway: Client, simulator: Simulator) -> None:
    """The GET itself is forwarded as before (scope `files`)."""
    file_id = simulator.generate_file("gone.bin", 3)
    async with gateway.get(f"{B}/filestore/delete/{file_id}", headers=ADMIN) as answer:
        assert answer.status == 200
        assert await answer.text() == "true"
    assert simulator.files.find(str(file_id)) is None


async def test_unsafe_get_is_sent_once_when_its_answer_is_lost(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """OL Connect deletes, then the connection drops: the client gets a 502 and the GET is not
    sent again (aiohttp would resend a GET once); a safe GET may be."""
    sim = make_simulator()
    gateway = await make_gateway_for(sim)
    file_id = sim.generate_file("once.bin", 3)
    async with gateway.get(f"{B}/filestore", headers=ADMIN) as warm:  # token, connections
        assert warm.status == 200
    sim.fault = Fault.DROP_AFTER
    async with gateway.get(f"{B}/filestore/delete/{file_id}", headers=ADMIN) as answer:
        assert answer.status == 502
    assert sim.calls["filestore.delete"] == 1
    assert sim.files.find(str(file_id)) is None
    async with gateway.get(f"{B}/filestore/resources", headers=ADMIN) as answer:
        assert answer.status == 502
    assert sim.calls["filestore.resources"] == 2  # aiohttp's resend: the check above can fail


def test_unsafe_routes_are_forwarded_gets_never_reads_nor_cached() -> None:
    """Exactly the state-changing GETs are `unsafe`; none is a read, takes `read` or is cached;
    OpenAPI marks them and lists no HEAD for them."""
    unsafe = {route.template for route in ROUTES if route.unsafe}
    assert unsafe == UNSAFE
    paths = openapi.build()["paths"]
    for route in ROUTES:
        if not route.unsafe:
            continue
        assert route.method == hdrs.METH_GET
        assert route.action is Action.FORWARD
        assert route.cache is None
        assert route.kind is not Kind.READ
        assert route.scopes is not None
        assert Scope.READ not in route.scopes
        operations = paths[openapi._path(route.template)]
        assert operations["get"]["x-unsafe"] is True
        assert "head" not in operations
