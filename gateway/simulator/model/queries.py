"""Reads computed over the entity model: job set statistics, content set pages, `entity/find`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.simulator.model import records
from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import METADATA_FAMILIES, PROPERTY_FAMILIES, Entities, Family
from gateway.simulator.model.errors import bad_request

LEVEL_MODES = ("documentOnly", "documentSetOnly", "documentSetAll")
#: `entity` values of a find request and the family each names.
FIND_ENTITIES = {f.singular.upper(): f for f in Family}
_RULE_TYPES = ("metadata", "property", "field")


def _number(values: Properties, name: str, default: int) -> int:
    for item in values:
        if item["name"] == name and item["value"].isdigit():
            return int(item["value"])
    return default


def statistics(entities: Entities, job_set: int, level_mode: str) -> dict[str, Any]:
    """Job Set Statistics: pages from each document's `pages` metadata, times the job set's
    `copies` (metadata or property, default 1), with the job set's metadata and properties."""
    metadata = entities.metadata(Family.JOBSETS, job_set)
    properties = entities.properties(Family.JOBSETS, job_set)
    copies = _number(metadata, "copies", _number(properties, "copies", 1))
    sets: list[dict[str, Any]] = []
    for job in entities.children(Family.JOBSETS, job_set):
        for segment in entities.children(Family.JOBS, job):
            for document_set in entities.children(Family.JOBSEGMENTS, segment):
                documents = []
                for document in entities.children(Family.DOCUMENTSETS, document_set):
                    values = entities.metadata(Family.DOCUMENTS, document)
                    pages = _number(values, "pages", 1) * copies
                    documents.append(
                        {
                            "id": document,
                            "pages": pages,
                            "sheets": (pages + 1) // 2,
                            "metadata": values,
                        }
                    )
                sets.append({"id": document_set, "documents": documents})
    all_documents = [d for s in sets for d in s["documents"]]
    answer: dict[str, Any] = {
        "jobSetId": job_set,
        "levelMode": level_mode,
        "documentSetCount": len(sets),
        "documentCount": len(all_documents),
        "pages": sum(d["pages"] for d in all_documents),
        "sheets": sum(d["sheets"] for d in all_documents),
        "metadata": metadata,
        "properties": properties,
    }
    if level_mode == "documentOnly":
        answer["items"] = all_documents
    else:
        answer["items"] = [
            {
                "id": s["id"],
                "pages": sum(d["pages"] for d in s["documents"]),
                "sheets": sum(d["sheets"] for d in s["documents"]),
                **({"documents": s["documents"]} if level_mode == "documentSetAll" else {}),
            }
            for s in sets
        ]
    return answer


def _item_pages(item: int) -> int:
    return item % 3 + 1


def content_set_pages(entities: Entities, content_set: int, detail: bool) -> Any:
    """Page Details: a summary of the set, or (detail) one entry per content item."""
    items = entities.children(Family.CONTENTSETS, content_set)
    if detail:
        return [
            {"item": i, "pages": _item_pages(i), "sheets": (_item_pages(i) + 1) // 2} for i in items
        ]
    pages = sum(_item_pages(i) for i in items)
    return {"contentSetId": content_set, "items": len(items), "pages": pages, "media": "Letter"}


def _ids(entities: Entities, family: Family) -> Iterator[int]:
    """Every existing id of a family, in ascending order of its parents."""
    if family in (Family.DOCUMENTSETS, Family.DOCUMENTS):
        parent = Family.JOBSEGMENTS if family is Family.DOCUMENTSETS else Family.DOCUMENTSETS
        for owner in _ids(entities, parent):
            yield from entities.children(parent, owner)
        return
    for entity_id in range(1, entities.highest(family) + 1):
        if entities.exists(family, entity_id):
            yield entity_id


def find(entities: Entities, body: object) -> dict[str, list[int]]:
    """A small `PUT entity/find`: `{"entity": "DOCUMENT", "search": {"ruleType": "AND"|"OR",
    "rules": [{"type": "metadata"|"property"|"field", "name", "value"}]}}` matches equal values."""
    if not isinstance(body, dict) or body.get("entity") not in FIND_ENTITIES:
        raise bad_request(f"entity must be one of {', '.join(FIND_ENTITIES)}", "entity")
    family = FIND_ENTITIES[body["entity"]]
    search = body.get("search", {})
    rules = search.get("rules") if isinstance(search, dict) else None
    if not isinstance(rules, list) or not all(_is_rule(r) for r in rules):
        raise bad_request("search.rules must be a list of {type, name, value}", "search")
    combine = any if search.get("ruleType", "AND") == "OR" else all
    found = [
        entity_id
        for entity_id in _ids(entities, family)
        if rules and combine(_matches(entities, family, entity_id, rule) for rule in rules)
    ]
    return {"identifiers": found}


def _is_rule(rule: object) -> bool:
    return (
        isinstance(rule, dict)
        and rule.get("type") in _RULE_TYPES
        and isinstance(rule.get("name"), str)
        and isinstance(rule.get("value"), str)
    )


def _matches(entities: Entities, family: Family, entity_id: int, rule: dict[str, str]) -> bool:
    values: Properties = []
    if rule["type"] == "metadata" and family in METADATA_FAMILIES:
        values = entities.metadata(family, entity_id)
    elif rule["type"] == "property" and family in PROPERTY_FAMILIES:
        values = entities.properties(family, entity_id)
    elif rule["type"] == "field" and family is Family.DATARECORDS:
        values = records.fields(entities, entity_id)
    return {"name": rule["name"], "value": rule["value"]} in values
