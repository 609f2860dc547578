"""Get-all lists (SPEC §10.1): `GET entity/jobsets|datasets|contentsets` are reads, cached in
their own class, dropped when an operation's result or a set delete passes through."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import FakeClock, key_header
from test_whole_api import CSV, WF, start, wait_done

from gateway.catalogue import ROUTES, TTL, Kind, Scope
from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault

Client = TestClient[Any, Any]
E = "/rest/serverengine/entity"
ALL = key_header("admin")
READER = key_header("reader")


async def listed(gateway: Client, family: str, cache: str) -> list[int]:
    """The get-all list of a family, read with a read-only key; its X-Cache must be ``cache``."""
    async with gateway.get(f"{E}/{family}", headers=READER) as answer:
        assert answer.status == 200, await answer.text()
        assert answer.headers["X-Cache"] == cache, family
        identifiers: list[int] = (await answer.json())["identifiers"]
        return identifiers


async def result(gateway: Client, links: dict[str, str], route: str = "getResult") -> str:
    """Wait for the operation, then POST its result route (getResult, getManagedResult…)."""
    await wait_done(gateway, links)
    path = links["result"].replace("/getResult/", f"/{route}/")
    async with gateway.post(path, headers=ALL) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.text()


async def upload(gateway: Client) -> str:
    async with gateway.post(
        "/rest/serverengine/filestore/DataFile?filename=in.csv", data=CSV, headers=ALL
    ) as answer:
        return await answer.text()


@pytest.mark.parametrize("family", ["jobsets", "datasets", "contentsets"])
async def test_all_sets_list_is_a_cached_read(gateway: Client, family: str) -> None:
    """MISS, then HIT, for a read-only key: a read of its own class, not a handshake."""
    first = await listed(gateway, family, "MISS")
    assert first == list(range(1, 26))  # the simulator's 100 segments make 25 sets
    assert await listed(gateway, family, "HIT") == first
    [route] = [r for r in ROUTES if r.template == f"{E}/{family}"]
    assert route.kind is Kind.READ
    assert route.scopes == frozenset({Scope.READ})
    assert route.cache is not None
    assert route.cache.ttl is TTL.ALL_SETS


async def test_all_sets_job_creation_result_drops_the_job_set_list(gateway: Client) -> None:
    """A job creation's result through the gateway: the next list is a MISS holding the new set."""
    before = await listed(gateway, "jobsets", "MISS")
    await listed(gateway, "jobsets", "HIT")
    links = await start(gateway, f"{WF}/jobcreation/jobs.OL-jobpreset", {"identifiers": [2]})
    job_set = int(await result(gateway, links))
    assert job_set not in before
    assert job_set in await listed(gateway, "jobsets", "MISS")


async def test_all_sets_data_mapping_and_content_creation_results_drop_their_lists(
    gateway: Client,
) -> None:
    """A data mapping result drops the data-set list; a content creation result the
    content-set list; each next read is a MISS holding the new set."""
    for family in ("datasets", "contentsets"):
        await listed(gateway, family, "MISS")
        await listed(gateway, family, "HIT")
    data_file = await upload(gateway)
    links = await start(gateway, f"{WF}/datamining/customers.OL-datamapper/{data_file}")
    data_set = int(await result(gateway, links))
    assert data_set in await listed(gateway, "datasets", "MISS")
    await listed(gateway, "contentsets", "MISS")  # data mapping may make content sets too
    await listed(gateway, "contentsets", "HIT")
    links = await start(gateway, f"{WF}/contentcreation/letter.OL-template/{data_set}")
    content_set = int(await result(gateway, links))
    assert content_set in await listed(gateway, "contentsets", "MISS")
    await listed(gateway, "datasets", "HIT")  # content creation makes no data set


async def test_all_sets_all_in_one_managed_result_drops_every_list(gateway: Client) -> None:
    """All-in-one makes a set of each kind: its result (here getManagedResult) drops all three."""
    for family in ("jobsets", "datasets", "contentsets"):
        await listed(gateway, family, "MISS")
    data_file = await upload(gateway)
    config = {
        "datamining": {"identifier": int(data_file)},
        "contentcreation": {},
        "jobcreation": {},
        "outputcreation": {},
    }
    links = await start(gateway, f"{WF}/print/submit", config)
    await result(gateway, links, "getManagedResult")
    for family in ("jobsets", "datasets", "contentsets"):
        assert len(await listed(gateway, family, "MISS")) == 26, family


@pytest.mark.parametrize("family", ["jobsets", "datasets", "contentsets"])
async def test_all_sets_set_delete_drops_its_list(gateway: Client, family: str) -> None:
    """A set delete through the gateway: the list is a MISS without the set."""
    await listed(gateway, family, "MISS")
    async with gateway.post(f"{E}/{family}/4/delete", headers=ALL) as answer:
        assert answer.status == 200
    assert 4 not in await listed(gateway, family, "MISS")


async def test_all_sets_expire_after_all_sets_but_a_text_handshake_is_service_info(
    gateway: Client, simulator: Simulator, wall_clock: FakeClock
) -> None:
    """The list lives `cache.ttl.all_sets` (10 s); a text answer at the same root (a server
    that answers it as the handshake) is kept as service info (3600 s)."""
    await listed(gateway, "datasets", "MISS")
    simulator.fault = Fault.NON_JSON  # every answer: 200 text/html
    async with gateway.get(f"{E}/jobsets", headers=READER) as answer:
        assert answer.headers["X-Cache"] == "MISS"
        assert answer.content_type == "text/html"
    simulator.fault = None
    wall_clock.advance(11)
    async with gateway.get(f"{E}/jobsets", headers=READER) as answer:
        assert answer.headers["X-Cache"] == "HIT"
    await listed(gateway, "datasets", "MISS")


def test_all_sets_every_set_making_result_route_names_its_lists() -> None:
    """The catalogue says which results drop which lists, the synchronous all-in-one included."""
    made = {
        "workflow/datamining": {"datasets", "contentsets"},
        "workflow/contentcreation": {"contentsets"},
        "workflow/contentcreation/email": {"contentsets"},
        "workflow/jobcreation": {"jobsets"},
        "workflow/print": {"jobsets", "datasets", "contentsets"},
    }
    for route in ROUTES:
        lists = set(route.invalidates.lists) if route.invalidates is not None else set()
        if route.kind is Kind.RESULT:
            assert lists == made.get(route.service, set()), route.template
        elif route.template.endswith("/{dmConfigId}/{templateId}/{jcConfigId}/{ocConfigId}"):
            assert lists == made["workflow/print"]
        else:
            assert not lists, route.template
