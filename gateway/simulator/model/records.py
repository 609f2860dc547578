"""Data record values: derived fields, updates, and the three Record Content List formats."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from multidict import MultiMapping

from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import DETAIL_TABLE, NESTED_BASE, Entities, Family
from gateway.simulator.model.errors import SimulatorError, bad_request

OUTPUT_FORMATS = ("default", "explicitTypes", "simplified")
#: The `table` of a data set's own records.
ROOT_TABLE = "record"
MISSING_RECORD = "The specified Data Record passed into this method refers to a missing resource"


def fields(entities: Entities, record: int) -> Properties:
    """The data fields of a record; KeyError when it does not exist."""
    entities.require(Family.DATARECORDS, record)
    stored = entities.field_values.get(record)
    if stored is not None:
        return [dict(f) for f in stored]
    if record > NESTED_BASE:
        parent, k = divmod(record - NESTED_BASE, 10)
        return [
            {"name": "line", "value": f"{parent}.{k}"},
            {"name": "quantity", "value": str(k + parent % 5)},
        ]
    return [
        {"name": "customer", "value": f"customer-{record}"},
        {"name": "amount", "value": f"{record * 37 % 1000}.00"},
    ]


def update_fields(entities: Entities, record: int, updates: Properties) -> None:
    """Set the named fields' values; a name the record lacks is added."""
    current = fields(entities, record)
    by_name = {f["name"]: f for f in current}
    for update in updates:
        if update["name"] in by_name:
            by_name[update["name"]]["value"] = update["value"]
        else:
            current.append(dict(update))
            by_name[update["name"]] = current[-1]
    entities.field_values[record] = current


def table(entities: Entities, record: int) -> str:
    """The data table a nested record sits in."""
    return entities.tables.get(record, DETAIL_TABLE)


def java_bool(value: str | None, default: bool = False) -> bool:
    """A boolean query parameter as JAX-RS reads one (`Boolean.valueOf`): `true` in any letter
    case is true, anything else false; absent is `default`."""
    return default if value is None else value.lower() == "true"


def query_flags(query: MultiMapping[str]) -> tuple[bool, str]:
    """`recursive` and the output format (`outputFormat`, else the deprecated
    `explicitTypes=true`) of a query; names are case-sensitive, as in OL Connect."""
    recursive = java_bool(query.get("recursive"))
    if "outputFormat" in query:
        return recursive, output_format(query["outputFormat"])
    explicit = java_bool(query.get("explicitTypes"))
    return recursive, "explicitTypes" if explicit else "default"


def output_format(value: object) -> str:
    """A valid `outputFormat`; 400 otherwise."""
    if value not in OUTPUT_FORMATS:
        raise bad_request(
            f"outputFormat must be one of {', '.join(OUTPUT_FORMATS)}", "outputFormat"
        )
    return str(value)


def _placement(entities: Entities, record: int) -> dict[str, Any]:
    """Where a record sits: `table` and `datasetid` for a data set's own record,
    `table` and `parentrecordid` for a nested one."""
    parent = entities.parent(Family.DATARECORDS, record)
    if parent is not None and parent[0] is Family.DATARECORDS:
        return {"table": table(entities, record), "parentrecordid": parent[1]}
    placement: dict[str, Any] = {"table": ROOT_TABLE}
    if parent is not None:
        placement["datasetid"] = parent[1]
    return placement


def content(entities: Entities, record: int, *, recursive: bool, fmt: str) -> dict[str, Any]:
    """One record as a Record Content List in format `fmt`; nested records only if `recursive`."""
    if fmt == "simplified":
        return _simplified(entities, record, recursive=recursive, root=True)
    if fmt == "explicitTypes":
        typed = _typed(entities, record, recursive=recursive)
        typed.pop("id")
        placement = _placement(entities, record)
        extra = {"datasetid": placement["datasetid"]} if "datasetid" in placement else {}
        return {"id": record, **extra, **typed}
    nested = entities.children(Family.DATARECORDS, record) if recursive else []
    return {
        "id": record,
        **_placement(entities, record),
        "fields": fields(entities, record),
        "records": [content(entities, child, recursive=True, fmt=fmt) for child in nested],
    }


def _simplified(entities: Entities, record: int, *, recursive: bool, root: bool) -> dict[str, Any]:
    """A flat record: `__recordid` (the record asked for only), field values, and each
    detail table as a list of flat rows."""
    simple: dict[str, Any] = {"__recordid": record} if root else {}
    simple.update((f["name"], f["value"]) for f in fields(entities, record))
    for child in entities.children(Family.DATARECORDS, record) if recursive else []:
        simple.setdefault(table(entities, child), []).append(
            _simplified(entities, child, recursive=True, root=False)
        )
    return simple


def _typed(entities: Entities, record: int, *, recursive: bool) -> dict[str, Any]:
    """Explicit types: `schema` (column types, per table), `fields` as an object, and
    `tables` of nested rows. Every simulated field is a STRING."""
    values = fields(entities, record)
    answer: dict[str, Any] = {
        "id": record,
        "schema": {"columns": {f["name"]: "STRING" for f in values}},
        "fields": {f["name"]: f["value"] for f in values},
    }
    tables: dict[str, list[dict[str, Any]]] = {}
    schemas: dict[str, Any] = {}
    for child in entities.children(Family.DATARECORDS, record) if recursive else []:
        row = _typed(entities, child, recursive=True)
        schemas[table(entities, child)] = row.pop("schema")
        tables.setdefault(table(entities, child), []).append(row)
    if tables:
        answer["schema"]["tables"] = schemas
        answer["tables"] = tables
    return answer


def single(entities: Entities, record: int, *, recursive: bool, fmt: str) -> dict[str, Any]:
    """`GET datarecords/{id}/values`: OL Connect answers an unknown id with a 500."""
    if not entities.exists(Family.DATARECORDS, record):
        raise SimulatorError(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "Server error or invalid Data Record ID specified",
            str(record),
        )
    return content(entities, record, recursive=recursive, fmt=fmt)


def contents(
    entities: Entities, records: Iterable[int], *, recursive: bool, fmt: str
) -> list[dict[str, Any]]:
    """Record Content Lists of several records, duplicates dropped; 400 for an unknown one
    (the message the vendor's client matches to DataRecordNotFound)."""
    answer: list[dict[str, Any]] = []
    seen: set[int] = set()
    for record in records:
        if record in seen:
            continue
        seen.add(record)
        if not entities.exists(Family.DATARECORDS, record):
            raise bad_request(MISSING_RECORD, str(record))
        answer.append(content(entities, record, recursive=recursive, fmt=fmt))
    return answer
