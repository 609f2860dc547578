"""Data record values: derived fields, updates, and the three Record Content List formats."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from multidict import MultiMapping

from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import DETAIL_TABLE, NESTED_BASE, Entities, Family
from gateway.simulator.model.errors import bad_request, not_found

OUTPUT_FORMATS = ("default", "explicitTypes", "simplified")


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


def query_flags(query: MultiMapping[str]) -> tuple[bool, str]:
    """`recursive` and `outputFormat` from a query; names are case-sensitive, as in OL Connect."""
    recursive = query.get("recursive", "false")
    if recursive not in ("true", "false"):
        raise bad_request("recursive must be true or false", "recursive")
    return recursive == "true", output_format(query.get("outputFormat", "default"))


def output_format(value: object) -> str:
    """A valid `outputFormat`; 400 otherwise."""
    if value not in OUTPUT_FORMATS:
        raise bad_request(
            f"outputFormat must be one of {', '.join(OUTPUT_FORMATS)}", "outputFormat"
        )
    return str(value)


def content(entities: Entities, record: int, *, recursive: bool, fmt: str) -> dict[str, Any]:
    """One record as a Record Content List in format `fmt`; nested records only if `recursive`."""
    values = fields(entities, record)
    nested = entities.children(Family.DATARECORDS, record) if recursive else []
    if fmt == "simplified":
        simple: dict[str, Any] = {"__recordid": record}
        simple.update((f["name"], f["value"]) for f in values)
        for child in nested:
            simple.setdefault(table(entities, child), []).append(
                content(entities, child, recursive=True, fmt=fmt)
            )
        return simple
    answer: dict[str, Any] = {"id": record, "fields": values}
    if fmt == "explicitTypes":
        answer["schema"] = {"columns": {f["name"]: "STRING" for f in values}}
    answer["records"] = [
        {"table": table(entities, child), **content(entities, child, recursive=True, fmt=fmt)}
        for child in nested
    ]
    return answer


def contents(
    entities: Entities, records: Iterable[int], *, recursive: bool, fmt: str
) -> list[dict[str, Any]]:
    """Record Content Lists of several records, duplicates dropped; 404 for an unknown one."""
    answer: list[dict[str, Any]] = []
    seen: set[int] = set()
    for record in records:
        if record in seen:
            continue
        seen.add(record)
        if not entities.exists(Family.DATARECORDS, record):
            raise not_found("data record", record)
        answer.append(content(entities, record, recursive=recursive, fmt=fmt))
    return answer
