"""The Data Record service: values (one, several, by GET or POST), their updates, adding records."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from gateway.simulator.http.answers import body_id, json_answer, path_id, read_json, true_answer
from gateway.simulator.http.entity_routes import entity_id, require_all
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model import records
from gateway.simulator.model.data import Properties, parse_properties
from gateway.simulator.model.entities import DETAIL_TABLE, Family, Ref
from gateway.simulator.model.errors import SimulatorError, bad_request

table = RouteTable()


@table.get("/entity/datarecords/{id}/values", "datarecords.values_get")
async def values_get(request: web.Request) -> web.StreamResponse:
    value = path_id(request, "id")
    if value is None:
        raise bad_request("data record id must be a number", request.match_info["id"])
    recursive, fmt = records.query_flags(request.query)
    entities = sim_of(request).entities
    return json_answer(records.single(entities, value, recursive=recursive, fmt=fmt))


def _fields_update(item: object, where: str) -> tuple[int, Properties]:
    """A Record Content List (Fields Only): `{"id": n, "fields": [{"name","value"}...]}`."""
    if not isinstance(item, dict) or set(item) != {"id", "fields"}:
        raise bad_request(f"{where}expected an object with id, fields")
    try:
        fields = parse_properties(f"{where}fields", item["fields"])
    except ValueError as exc:
        raise bad_request(str(exc), "fields") from None
    return body_id(item["id"], f"{where}id"), fields


@table.put("/entity/datarecords/{id}/values", "datarecords.values_put")
async def values_put(request: web.Request) -> web.StreamResponse:
    value = entity_id(request, Family.DATARECORDS)
    body_value, fields = _fields_update(await read_json(request), "")
    if body_value != value:
        # OL Connect answers an id mismatch with a server error, not a 400.
        raise SimulatorError(
            HTTPStatus.INTERNAL_SERVER_ERROR, "data record id mismatch in JSON", str(body_value)
        )
    records.update_fields(sim_of(request).entities, value, fields)
    return true_answer()


@table.put("/entity/datarecords", "datarecords.values_bulk")
async def values_bulk(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, list):
        raise bad_request("expected a JSON array of objects with id, fields")
    updates = [_fields_update(item, f"[{n}].") for n, item in enumerate(body)]
    entities = sim_of(request).entities
    require_all(entities, Family.DATARECORDS, [value for value, _ in updates])
    for value, fields in updates:
        records.update_fields(entities, value, fields)
    return true_answer()


@table.get("/entity/datarecords/values", "datarecords.values_multi_get")
async def values_multi_get(request: web.Request) -> web.StreamResponse:
    raw_ids = request.query.getall("id", [])
    if not raw_ids:
        raise bad_request("at least one id is required", "id")
    for raw in raw_ids:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
            raise bad_request("id must be a record id", raw)
    recursive, fmt = records.query_flags(request.query)
    entities = sim_of(request).entities
    ids = [int(raw) for raw in raw_ids]
    return json_answer(records.contents(entities, ids, recursive=recursive, fmt=fmt))


@table.post("/entity/datarecords/values", "datarecords.values_multi_post")
async def values_multi_post(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("recordids"), list):
        raise bad_request("expected a JSON object with a list recordids", "recordids")
    ids = [body_id(item, "recordids") for item in body["recordids"]]
    flags = {key: body.get(key, False) for key in ("recursive", "explicitTypes", "optimized")}
    for key, flag in flags.items():
        if not isinstance(flag, bool):
            raise bad_request(f"{key} must be true or false", key)
    default = "explicitTypes" if flags["explicitTypes"] else "default"
    fmt = records.output_format(body.get("outputFormat", default))
    recursive = flags["recursive"]
    entities = sim_of(request).entities
    return json_answer(records.contents(entities, ids, recursive=recursive, fmt=fmt))


def _invalid_records(message: str, parameter: str = "") -> SimulatorError:
    # OL Connect answers a New Record List it cannot read with a 500 (its README set:
    # "JSON New Record Lists invalid or missing required structure").
    return SimulatorError(HTTPStatus.INTERNAL_SERVER_ERROR, message, parameter)


def _new_records(item: object, where: str) -> tuple[Ref, str, list[Properties]]:
    """A New Record List: `{"datasetid": n, "records": [...]}` adds records to a data set,
    `{"recordid": n, "table": "detail", "records": [...]}` nested records to a record."""
    if not isinstance(item, dict) or not isinstance(item.get("records"), list):
        raise _invalid_records(f"{where}JSON New Record List missing required structure")
    if ("datasetid" in item) == ("recordid" in item):
        raise _invalid_records(f"{where}give exactly one of datasetid, recordid")
    try:
        if "datasetid" in item:
            parent: Ref = (Family.DATASETS, body_id(item["datasetid"], f"{where}datasetid"))
            table_name: object = DETAIL_TABLE
        else:
            parent = (Family.DATARECORDS, body_id(item["recordid"], f"{where}recordid"))
            table_name = item.get("table")
        if not isinstance(table_name, str) or not table_name:
            raise bad_request(f"{where}table must name the detail table", "table")
    except SimulatorError as exc:
        raise _invalid_records(exc.message, exc.parameter) from None
    rows: list[Properties] = []
    for n, record in enumerate(item["records"]):
        if not isinstance(record, dict) or set(record) != {"fields"}:
            raise _invalid_records(f"{where}records[{n}]: expected an object with fields")
        try:
            rows.append(parse_properties(f"{where}records[{n}].fields", record["fields"]))
        except ValueError as exc:
            raise _invalid_records(str(exc), "fields") from None
    return parent, table_name, rows


@table.post("/entity/datarecords", "datarecords.add")
async def add_records(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    items = body if isinstance(body, list) else [body]
    additions = [
        _new_records(item, f"[{n}]." if body is items else "") for n, item in enumerate(items)
    ]
    entities = sim_of(request).entities
    for parent, _table, _rows in additions:
        require_all(entities, parent[0], [parent[1]])
    for parent, table_name, rows in additions:
        entities.add_records(parent, rows, table_name)
    return true_answer()
