"""Entity services: child lists, metadata, properties, bulk updates, deletes, statistics, find."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.simulator.http.answers import (
    json_answer,
    name_value_lists,
    name_value_update,
    path_id,
    read_json,
    true_answer,
)
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model import queries, search, statistics
from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import (
    DELETABLE_FAMILIES,
    METADATA_FAMILIES,
    PROPERTY_FAMILIES,
    Entities,
    Family,
)
from gateway.simulator.model.errors import SimulatorError, not_found
from gateway.simulator.model.records import java_bool

table = RouteTable()


def entity_id(request: web.Request, family: Family, param: str = "id") -> int:
    """The path's `{id}` (or `param`) when that entity exists; 404 naming it otherwise (a
    JAX-RS `long` path parameter that is not a number is a 404 too)."""
    value = path_id(request, param)
    if value is None or not sim_of(request).entities.exists(family, value):
        raise not_found(family.label, request.match_info[param])
    return value


def require_all(entities: Entities, family: Family, ids: list[int]) -> None:
    """404 naming the first id that does not exist (before a bulk write changes anything)."""
    for value in ids:
        if not entities.exists(family, value):
            raise not_found(family.label, value)


def _children(family: Family) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        value = entity_id(request, family)
        return json_answer({"identifiers": sim_of(request).entities.children(family, value)})

    return handler


# The metadata and properties routes differ only in which list of an entity they touch.
Read = Callable[[Entities, Family, int], Properties]
Write = Callable[[Entities, Family, int, Properties], None]


def _names_get(family: Family, read: Read) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        value = entity_id(request, family)
        return json_answer(read(sim_of(request).entities, family, value))

    return handler


def _names_put(family: Family, write: Write) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        value = entity_id(request, family)
        values = name_value_update(await read_json(request), value, what=family.label)
        write(sim_of(request).entities, family, value, values)
        return true_answer()

    return handler


def _properties_bulk(family: Family) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        updates = name_value_lists(await read_json(request))
        entities = sim_of(request).entities
        require_all(entities, family, [value for value, _ in updates])
        for value, values in updates:
            entities.set_properties(family, value, values)
        return true_answer()

    return handler


def _delete(family: Family) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        sim_of(request).entities.delete(family, entity_id(request, family))
        return true_answer()

    return handler


def _all_sets(family: Family) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        kind = request.query.get("type")
        return json_answer(queries.all_sets(sim_of(request).entities, family, kind))

    return handler


# The Job Segment routes keep their first names.
table.get("/entity/jobsegments/{id}", "document_sets")(_children(Family.JOBSEGMENTS))
_SEGMENT_METADATA = "/entity/jobsegments/{id}/metadata"
table.get(_SEGMENT_METADATA, "metadata_get")(_names_get(Family.JOBSEGMENTS, Entities.metadata))
table.put(_SEGMENT_METADATA, "metadata_put")(_names_put(Family.JOBSEGMENTS, Entities.set_metadata))
for _family in (Family.CONTENTSETS, Family.DATASETS, Family.JOBSETS):
    # "Get all": OL Connect's reference, its own client and rest.js agree (FIDELITY B1).
    for _path in (f"/entity/{_family}", f"/entity/{_family}/"):  # JAX-RS: a trailing slash too
        table.get(_path, f"{_family}.all")(_all_sets(_family))
for _family in (Family.JOBSETS, Family.JOBS, Family.DOCUMENTSETS, Family.DATASETS):
    table.get(f"/entity/{_family}/{{id}}", f"{_family}.get")(_children(_family))
for _family in sorted(METADATA_FAMILIES - {Family.JOBSEGMENTS}):
    _path = f"/entity/{_family}/{{id}}/metadata"
    table.get(_path, f"{_family}.metadata_get")(_names_get(_family, Entities.metadata))
    table.put(_path, f"{_family}.metadata_put")(_names_put(_family, Entities.set_metadata))
for _family in sorted(PROPERTY_FAMILIES):
    _path = f"/entity/{_family}/{{id}}/properties"
    table.get(_path, f"{_family}.properties_get")(_names_get(_family, Entities.properties))
    table.put(_path, f"{_family}.properties_put")(_names_put(_family, Entities.set_properties))
for _family in (Family.JOBS, Family.CONTENTITEMS, Family.DATARECORDS):
    table.put(f"/entity/{_family}/properties", f"{_family}.properties_bulk")(
        _properties_bulk(_family)
    )
for _family in sorted(DELETABLE_FAMILIES):
    table.post(f"/entity/{_family}/{{id}}/delete", f"{_family}.delete")(_delete(_family))


def _item_list(entities: Entities, items: list[int]) -> dict[str, list[dict[str, int]]]:
    """A Content Item Identifier List: each item with the record it renders."""
    return {"identifiers": [{"item": i, "record": entities.item_record(i)} for i in items]}


@table.get("/entity/contentsets/{id}", "contentsets.get")
async def content_set_items(request: web.Request) -> web.StreamResponse:
    value = entity_id(request, Family.CONTENTSETS)
    entities = sim_of(request).entities
    return json_answer(_item_list(entities, entities.children(Family.CONTENTSETS, value)))


@table.get("/entity/contentsets/{id}/pages", "contentsets.pages")
async def content_set_pages(request: web.Request) -> web.StreamResponse:
    value = entity_id(request, Family.CONTENTSETS)
    detail = java_bool(request.query.get("detail"))
    return json_answer(queries.content_set_pages(sim_of(request).entities, value, detail))


@table.get("/entity/jobs/{id}/contents", "jobs.contents")
async def job_contents(request: web.Request) -> web.StreamResponse:
    value = entity_id(request, Family.JOBS)
    entities = sim_of(request).entities
    return json_answer(_item_list(entities, entities.job_contents(value)))


@table.get("/entity/contentitems/{id}/datarecord", "contentitems.datarecord")
async def content_item_record(request: web.Request) -> web.StreamResponse:
    value = entity_id(request, Family.CONTENTITEMS)
    # A JSON Data Record Identifier: the vendor's client reads `record` (FIDELITY B2).
    return json_answer({"record": sim_of(request).entities.item_record(value)})


@table.get("/statistics/jobset/{id}", "statistics.jobset")
async def job_set_statistics(request: web.Request) -> web.StreamResponse:
    mode = statistics.level_mode(request.query.get("levelMode"))
    value = entity_id(request, Family.JOBSETS)
    return json_answer(statistics.statistics(sim_of(request).entities, value, mode))


@table.put("/entity/find", "entity.find")
async def find(request: web.Request) -> web.StreamResponse:
    try:
        body = await read_json(request)
    except SimulatorError as exc:
        if exc.status != HTTPStatus.BAD_REQUEST:
            raise
        raise search.invalid(exc.message) from None  # OL Connect: 500 "Invalid JSON structure"
    return json_answer(search.find(sim_of(request).entities, body))
