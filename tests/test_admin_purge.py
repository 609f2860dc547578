"""Purges for writes OL Connect makes itself (issue 19 item 7): `DELETE /admin/cache/<family>/<id>`
for every entity family, and `DELETE /admin/cache/<family>` for a whole family."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import key_header

Client = TestClient[Any, Any]
E = "/rest/serverengine/entity"
STATISTICS = "/rest/serverengine/statistics/jobset/1"
ADMIN = key_header("admin")
IN_JOB_SETS = {"jobsets", "jobs", "jobsegments", "documentsets", "documents"}
SETS = {"jobsets", "datasets", "contentsets"}

# (family, id, a cached read of that entity). Simulator data: job set 1 holds jobs 1, 2; job 1
# segments 1, 2; segment 1 document sets 11..13; document set 11 documents 111, 112.
READS = [
    ("jobsets", 1, f"{E}/jobsets/1/properties"),
    ("jobs", 1, f"{E}/jobs/1"),
    ("jobsegments", 1, f"{E}/jobsegments/1/metadata"),
    ("documentsets", 11, f"{E}/documentsets/11"),
    ("documents", 111, f"{E}/documents/111/metadata"),
    ("datasets", 1, f"{E}/datasets/1"),
    ("datarecords", 1, f"{E}/datarecords/1/values"),
    ("contentsets", 1, f"{E}/contentsets/1"),
    ("contentitems", 1, f"{E}/contentitems/1/properties"),
]


async def cache_of(gateway: Client, path: str) -> str:
    async with gateway.get(path, headers=ADMIN) as answer:
        assert answer.status == 200, (path, await answer.text())
        return answer.headers["X-Cache"]


async def purge(gateway: Client, path: str) -> int:
    async with gateway.delete(path, headers=ADMIN) as answer:
        if answer.status != 204:
            error = (await answer.json())["error"]
            assert error["status"] == answer.status
        return answer.status


@pytest.mark.parametrize(("family", "entity", "path"), READS, ids=[r[0] for r in READS])
async def test_admin_purge_of_one_entity_drops_its_reads(
    gateway: Client, family: str, entity: int, path: str
) -> None:
    """`DELETE /admin/cache/<family>/<id>` drops the entity's cached reads; in the job-set
    hierarchy the statistics too; for a set, its family's get-all list; nothing else."""
    other = f"{E}/jobsets/2/properties"  # another entity: kept
    watched = [path, other, STATISTICS] + ([f"{E}/{family}"] if family in SETS else [])
    for read in watched:
        assert await cache_of(gateway, read) == "MISS"
        assert await cache_of(gateway, read) == "HIT"
    assert await purge(gateway, f"/admin/cache/{family}/{entity}") == 204
    assert await cache_of(gateway, path) == "MISS"
    assert await cache_of(gateway, other) == "HIT"
    statistics = await cache_of(gateway, STATISTICS)
    assert statistics == ("MISS" if family in IN_JOB_SETS else "HIT")
    if family in SETS:
        assert await cache_of(gateway, f"{E}/{family}") == "MISS"


@pytest.mark.parametrize(("family", "entity", "path"), READS, ids=[r[0] for r in READS])
async def test_admin_purge_of_a_family_drops_every_read_of_it(
    gateway: Client, family: str, entity: int, path: str
) -> None:
    """`DELETE /admin/cache/<family>` (after "Update Data Records" changed many records)."""
    await cache_of(gateway, path)
    assert await cache_of(gateway, path) == "HIT"
    assert await purge(gateway, f"/admin/cache/{family}") == 204
    assert await cache_of(gateway, path) == "MISS"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/cache/nosuchfamily/1", 404),
        ("/admin/cache/entity/1", 404),  # "entity" is no family
        ("/admin/cache/nosuchfamily", 404),
        ("/admin/cache/jobs/0", 400),
        ("/admin/cache/jobs/x", 400),
        ("/admin/cache/datarecords/99999999999999999999", 400),
        ("/admin/cache/entity/jobs/-1", 400),
        ("/admin/cache/jobsegments/abc", 400),
    ],
)
async def test_admin_purge_refuses_unknown_families_and_bad_ids(
    gateway: Client, path: str, status: int
) -> None:
    """An unknown family is a 404 JSON Error, a bad id a 400; neither purges anything."""
    await cache_of(gateway, f"{E}/jobs/1")
    assert await purge(gateway, path) == status
    assert await cache_of(gateway, f"{E}/jobs/1") == "HIT"


async def test_admin_purge_needs_the_admin_scope(gateway: Client) -> None:
    """A `write` key cannot purge (403); no key at all is a 401."""
    async with gateway.delete("/admin/cache/jobs/1", headers=key_header("writer")) as answer:
        assert answer.status == 403
    async with gateway.delete("/admin/cache/jobs") as answer:
        assert answer.status == 401
