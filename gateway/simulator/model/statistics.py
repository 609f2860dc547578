"""`GET statistics/jobset/{id}`: JSON Job Set Statistics at one of three levels (FIDELITY B4).

The body OL Connect documents: `jobSetId`, `properties` (the job set's metadata, as
`name=value` strings, when it has any), `counts {sheets, pages, documents}`, the master
`media` list, and either `documents` (level `documentOnly`, the default) or `documentSets`
(`documentSetOnly`; `documentSetAll` adds each set's documents). A document's `media` maps
the index of a master media entry (as a string) to its page count. Pages come from each
document's `pages` metadata, times the job set's `copies` (metadata or property, default 1).
"""

from __future__ import annotations

from typing import Any, Final

from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.errors import bad_request

#: The accepted `levelMode` values; OL Connect matches them in any letter case.
LEVEL_MODES: Final = ("documentOnly", "documentSetOnly", "documentSetAll")
DEFAULT_LEVEL: Final = "documentOnly"
#: The one media every simulated page is printed on (index 0 of the master list).
MEDIA: Final = {
    "name": "Plain Letter Paper",
    "type": "Plain",
    "size": {"width": "8.5in", "height": "11in"},
    "color": None,
    "weight": "75gsm",
}


def level_mode(raw: str | None) -> str:
    """The canonical spelling of a `levelMode` query value; 400 for an unknown one."""
    if raw is None:
        return DEFAULT_LEVEL
    for mode in LEVEL_MODES:
        if mode.lower() == raw.lower():
            return mode
    raise bad_request(f"levelMode must be one of {', '.join(LEVEL_MODES)}", "levelMode")


def number(values: Properties, name: str, default: int) -> int:
    """The whole number a Name/Value list holds under `name`, else `default`."""
    for item in values:
        if item["name"] == name and item["value"].isdigit():
            return int(item["value"])
    return default


def strings(values: Properties) -> list[str]:
    """A Name/Value list as the statistics print properties: `name=value` strings."""
    return [f"{item['name']}={item['value']}" for item in values]


def _counts(pages: int) -> dict[str, int]:
    """One document's counts: printed duplex, two pages a sheet."""
    return {"sheets": (pages + 1) // 2, "pages": pages}


def _total(documents: list[dict[str, Any]]) -> dict[str, int]:
    return {key: sum(d["counts"][key] for d in documents) for key in ("sheets", "pages")}


def _document(entities: Entities, document: int, copies: int, item: int | None) -> dict[str, Any]:
    values = entities.metadata(Family.DOCUMENTS, document)
    pages = number(values, "pages", 1) * copies
    answer: dict[str, Any] = {"documentId": document}
    if item is not None:
        answer["contentItemId"] = item
        answer["dataRecordId"] = entities.item_record(item)
    if values:
        answer["properties"] = strings(values)
    answer.update(counts=_counts(pages), media={"0": pages})
    return answer


def _item_of(entities: Entities, job: int, segment: int) -> int | None:
    """The content item a job segment was made of: the item at its place in its job."""
    items = entities.job_contents(job)
    place = entities.children(Family.JOBS, job).index(segment)
    if place >= len(items) or not entities.exists(Family.CONTENTITEMS, items[place]):
        return None  # a seeded segment, or its content set was deleted since
    return items[place]


def statistics(entities: Entities, job_set: int, mode: str) -> dict[str, Any]:
    """The statistics of an existing job set at level `mode` (one of `LEVEL_MODES`)."""
    metadata = entities.metadata(Family.JOBSETS, job_set)
    properties = entities.properties(Family.JOBSETS, job_set)
    copies = number(metadata, "copies", number(properties, "copies", 1))
    sets: list[dict[str, Any]] = []
    for job in entities.children(Family.JOBSETS, job_set):
        for segment in entities.children(Family.JOBS, job):
            item = _item_of(entities, job, segment)
            for document_set in entities.children(Family.JOBSEGMENTS, segment):
                documents = [
                    _document(entities, document, copies, item)
                    for document in entities.children(Family.DOCUMENTSETS, document_set)
                ]
                counts = _total(documents)
                entry: dict[str, Any] = {
                    "documentSetId": document_set,
                    "counts": counts,
                    "media": {"0": counts["pages"]},
                }
                if mode == "documentSetAll":
                    entry["documents"] = documents
                sets.append({**entry, "_documents": documents})
    all_documents = [d for s in sets for d in s.pop("_documents")]
    counts = _total(all_documents)
    answer: dict[str, Any] = {"jobSetId": job_set}
    if metadata:
        answer["properties"] = strings(metadata)
    answer["counts"] = {**counts, "documents": len(all_documents)}
    answer["media"] = [{**MEDIA, "count": counts["pages"]}]
    if mode == DEFAULT_LEVEL:
        answer["documents"] = all_documents
    else:
        answer["documentSets"] = sets
    return answer
