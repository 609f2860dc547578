"""Owners of operations and files (SPEC §11.1): groups cannot see each other's work."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import MakeGatewayFor, MakeSimulator
from operations_support import (
    BASE,
    CSV,
    FS,
    WF,
    as_,
    group_clients,
    output_flow,
    start,
    upload,
)
from redis_fixtures import MakeRedisServer
from simulator_support import error_of, open_session

from gateway.engines.owned import managed_file_ids
from gateway.simulator import Simulator
from gateway.simulator.model.operations import OperationType
from gateway.simulator.model.state import Fault
from gateway.state import METRICS

Client = TestClient[Any, Any]
OC = "workflow/outputcreation"
# (method, path): every route that names an owned operation or file. {operation},
# {file} (an uploaded data file) and {managed} (getManagedResult's id) are filled in.
OWNED_ROUTES = [
    ("GET", f"{BASE}/{OC}/getProgress/{{operation}}"),
    ("POST", f"{BASE}/{OC}/getResult/{{operation}}"),
    ("POST", f"{BASE}/{OC}/getResultTxt/{{operation}}"),
    ("POST", f"{BASE}/{OC}/getManagedResult/{{operation}}"),
    ("POST", f"{BASE}/{OC}/cancel/{{operation}}"),
    ("GET", f"{BASE}/{OC}/getProgress/{{OPERATION}}"),  # the id in capitals
    ("GET", "/operations/{operation}/events"),
    ("GET", f"{FS}/file/{{file}}"),
    ("GET", f"{FS}/file/{{managed}}"),
    ("GET", f"{FS}/file/0{{file}}"),  # the same number, spelt otherwise
    ("GET", f"{FS}/file/in.CSV"),  # the name it was uploaded under
    ("HEAD", f"{FS}/file/{{file}}"),
    ("GET", f"{FS}/file/{{managed}}/inner.pdf"),
    ("GET", f"{FS}/delete/{{file}}"),
    ("POST", f"{FS}/delete/{{file}}"),
    ("POST", f"{FS}/file/{{file}}"),
    ("POST", f"{FS}/dir/{{file}}"),
    ("POST", f"{BASE}/converter/getResult/{{operation}}"),  # another service's route
]


def upstream_requests(gateway: Client) -> float:
    """Requests the gateway sent to OL Connect (its own count: routes the simulator does
    not serve are counted too)."""
    return sum(
        float(sample.value)
        for family in gateway.app[METRICS].registry.collect()
        if family.name == "olcg_upstream_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def _path(template: str, ids: dict[str, str]) -> str:
    return template.format(
        operation=ids["operation"],
        OPERATION=ids["operation"].upper(),
        file=ids["file"],
        managed=ids["managed"],
    )


@pytest.fixture
async def owned(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> tuple[Client, Simulator, dict[str, str]]:
    """A gateway with groups, and what client a1 (team-a) made through it."""
    sim = make_simulator(progress_steps=())
    gateway = await make_gateway_for(
        sim, clients=group_clients(), operations={"poll_interval": 0.05}
    )
    return gateway, sim, await output_flow(gateway, "a1")


@pytest.mark.parametrize(("method", "template"), OWNED_ROUTES)
async def test_another_group_gets_404_and_nothing_is_forwarded(
    owned: tuple[Client, Simulator, dict[str, str]], method: str, template: str
) -> None:
    """b1 (another group) is answered 404 JSON Error — never 403 — and OL Connect is not asked."""
    gateway, sim, ids = owned
    before = sum(sim.calls.values()), upstream_requests(gateway)
    async with gateway.request(method, _path(template, ids), headers=as_("b1")) as answer:
        assert answer.status == 404
        if method != "HEAD":
            assert (await error_of(answer))["status"] == 404
    assert (sum(sim.calls.values()), upstream_requests(gateway)) == before


@pytest.mark.parametrize("who", ["a2", "ops"])
@pytest.mark.parametrize(("method", "template"), OWNED_ROUTES)
async def test_same_group_and_star_are_let_through(
    owned: tuple[Client, Simulator, dict[str, str]], method: str, template: str, who: str
) -> None:
    """a2 (the same group) and ops (group "*") reach OL Connect (or the event stream)."""
    gateway, _, ids = owned
    before = upstream_requests(gateway)
    async with gateway.request(method, _path(template, ids), headers=as_(who)) as answer:
        if template.startswith("/operations/"):
            assert answer.status == 200
            assert "event: done" in await answer.text()
            return
        await answer.read()
    assert upstream_requests(gateway) == before + 1


async def test_operations_list_shows_only_the_callers_group(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """`getOperations` lists the caller group's operations; "*" lists all, even unknown ones."""
    sim = make_simulator(progress_steps=(0, 50, 100))
    gateway = await make_gateway_for(sim, clients=group_clients())
    file_a, file_b = await upload(gateway, "a1"), await upload(gateway, "b1")
    op_a = await start(gateway, "a1", f"{WF}/datamining/c/{file_a}")
    op_b = await start(gateway, "b1", f"{WF}/datamining/c/{file_b}")
    unknown = sim.operations.start("/workflow/datamining", OperationType.DATA_MINING, _never).op_id

    async def listed(who: str) -> set[str]:
        async with gateway.get(f"{WF}/datamining/getOperations", headers=as_(who)) as answer:
            assert answer.status == 200
            assert answer.content_type == "application/json"
            return {item["id"] for item in await answer.json()}

    assert await listed("a1") == await listed("a2") == {op_a}
    assert await listed("b1") == {op_b}
    assert await listed("ops") == {op_a, op_b, unknown}


async def _never() -> Any:
    raise AssertionError("not run")


@pytest.mark.parametrize("unknown_ids", ["allow", "deny"])
async def test_ids_the_gateway_never_saw_follow_unknown_ids(
    make_simulator: MakeSimulator,
    make_simulator_server: Any,
    make_gateway_for: MakeGatewayFor,
    unknown_ids: str,
) -> None:
    """A file uploaded straight to OL Connect is anyone's under `allow`; under `deny` only
    group "*" reaches it, and a refusal sends nothing upstream."""
    sim = make_simulator()
    gateway = await make_gateway_for(
        sim, clients=group_clients(), isolation={"unknown_ids": unknown_ids}
    )
    async with (
        open_session(await make_simulator_server(sim)) as direct,
        direct.post(f"{FS}/DataFile?filename=x.csv", data=CSV) as answer,
    ):
        file_id = await answer.text()
    for who in ("a1", "b1", "ops"):
        before = sim.calls["filestore.download"]
        async with gateway.get(f"{FS}/file/{file_id}", headers=as_(who)) as answer:
            allowed = unknown_ids == "allow" or who == "ops"
            assert answer.status == (200 if allowed else 404), who
            await answer.read()
        assert sim.calls["filestore.download"] == before + (1 if allowed else 0)


async def test_isolation_disabled_lets_every_group_through(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """`isolation.enabled: false`: no owner checks, no filtering (as before SPEC §11)."""
    sim = make_simulator(progress_steps=(0, 50))
    gateway = await make_gateway_for(
        sim, clients=group_clients(), isolation={"enabled": False, "unknown_ids": "deny"}
    )
    file_id = await upload(gateway, "a1")
    op_id = await start(gateway, "a1", f"{WF}/datamining/c/{file_id}")
    async with gateway.get(f"{FS}/file/{file_id}", headers=as_("b1")) as answer:
        assert (answer.status, await answer.read()) == (200, CSV)
    async with gateway.get(f"{WF}/datamining/getProgress/{op_id}", headers=as_("b1")) as answer:
        assert await answer.text() == "0"
    async with gateway.get(f"{WF}/datamining/getOperations", headers=as_("b1")) as answer:
        assert [item["id"] for item in await answer.json()] == [op_id]


async def test_owners_fail_closed_while_redis_is_down(
    make_simulator: MakeSimulator,
    make_gateway_for: MakeGatewayFor,
    make_redis_server: MakeRedisServer,
    log_output: Any,
) -> None:
    """Redis down: a checked route answers 503 + Retry-After and forwards nothing; an upload
    still gets its id (its work is done) and `owner_not_recorded` is logged. Redis back (empty):
    owners are checked again."""
    redis = make_redis_server()
    sim = make_simulator()
    gateway = await make_gateway_for(
        sim,
        clients=group_clients(),
        cache={"backend": "redis", "redis_url": redis.url, "redis_prefix": "t:"},
    )
    file_id = await upload(gateway, "a1")
    redis.stop()
    before = upstream_requests(gateway)
    async with gateway.get(f"{FS}/file/{file_id}", headers=as_("a1")) as answer:
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "1"
        assert (await error_of(answer))["status"] == 503
    assert upstream_requests(gateway) == before
    late = await upload(gateway, "a1")
    assert "owner_not_recorded" in log_output.getvalue()
    redis.start()

    async def served() -> bool:
        async with gateway.get(f"{FS}/file/{late}", headers=as_("b1")) as answer:
            return (answer.status, await answer.read()) == (200, CSV)  # unknown: allowed

    for _ in range(300):  # Redis is asked again a second after the failure
        if await served():
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("owners never checked again")


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        (b"42", ["42"]),
        (b" 42\n", ["42"]),
        (b'{"identifier": 90817, "files": ["a.pdf", "b.pdf"]}', ["90817"]),
        (b'{"identifier": "out.pdf"}', ["out.pdf"]),
        (b'{"identifier": true}', []),
        (b'{"files": []}', []),
        (b"{not json", []),
        (b"two words", []),
        (b"", []),
    ],
)
def test_managed_result_names_its_file_as_text_or_json(body: bytes, ids: list[str]) -> None:
    """`getManagedResult` answers a text id (up to 2023.2) or `{identifier, files}` (2024.2)."""
    assert managed_file_ids(body) == ids


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", f"{WF}/outputcreation/getResultFolder/{{operation}}"),
        ("GET", f"{BASE}/converter/someday/{{operation}}/x"),
        ("GET", f"{FS}/preview/{{file}}"),
        ("GET", f"{FS}/preview/{{managed}}/page/1"),
    ],
)
async def test_unlisted_routes_refuse_another_groups_ids(
    owned: tuple[Client, Simulator, dict[str, str]], method: str, template: str
) -> None:
    """A route the catalogue does not list (a newer OL Connect's): a path segment naming
    another group's operation or file is refused, and nothing is forwarded; the owner's
    group is forwarded."""
    gateway, _, ids = owned
    path = _path(template, ids)
    before = upstream_requests(gateway)
    async with gateway.request(method, path, headers=as_("b1")) as answer:
        assert answer.status == 404
    assert upstream_requests(gateway) == before
    async with gateway.request(method, path, headers=as_("a2")) as answer:
        await answer.read()
    assert upstream_requests(gateway) == before + 1


async def test_an_operations_list_that_cannot_be_read_is_502(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """Fail closed: a `getOperations` answer the gateway cannot filter is never passed on whole."""
    sim = make_simulator()
    gateway = await make_gateway_for(sim, clients=group_clients())
    await start(gateway, "a1", f"{WF}/datamining/c/{await upload(gateway, 'a1')}")
    sim.fault = Fault.NON_JSON
    async with gateway.get(f"{WF}/datamining/getOperations", headers=as_("b1")) as answer:
        assert answer.status == 502
        assert (await error_of(answer))["status"] == 502
    async with gateway.get(f"{WF}/datamining/getOperations", headers=as_("ops")) as answer:
        assert answer.status == 200  # "*" sees OL Connect's answer as it is
