"""What each operation does when it completes: data mapping, content, job and output creation,
conversion. Every result is derived from its inputs, so tests can assert on it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from http import HTTPStatus

from gateway.simulator.model import records
from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.errors import SimulatorError, not_found
from gateway.simulator.model.filestore import FileKind, FileStore, StoredFile
from gateway.simulator.model.operations import Result, Work

#: Data mapping reads this much of the data file, one record per non-blank line.
SAMPLE_BYTES = 64 * 1024
MAX_RECORDS = 100
JSON_TYPE = "application/json"
#: What OL Connect answers for the result of a mapping that failed (the vendor's client
#: matches this message to DataMappingFailed).
MAPPING_FAILED = "Error executing DM configuration"


async def sample(files: FileStore, stored: StoredFile) -> bytes:
    """The first bytes of a data file; 404 when it was deleted while the operation ran."""
    try:
        return await files.head(stored, SAMPLE_BYTES)
    except FileNotFoundError:
        raise not_found("managed file", stored.file_id) from None


@dataclass
class Mapping:
    """What the simulated data mapping configuration extracts from a data file: one record
    per non-blank line; a line that is not UTF-8 text is a record in error."""

    rows: list[Properties] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors) or not self.rows


def map_data(data: bytes) -> Mapping:
    """Map the first bytes of a data file."""
    mapping = Mapping()
    lines = [line for line in data.splitlines() if line.strip()][:MAX_RECORDS]
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            mapping.errors.append({"record": number, "reason": f"Document: {number} not UTF-8"})
            continue
        mapping.rows.append(
            [{"name": "line", "value": line[:200]}, {"name": "number", "value": str(number)}]
        )
    return mapping


async def mapped_rows(files: FileStore, data_file: StoredFile) -> list[Properties]:
    """The records of a data file; the 500 OL Connect answers when the mapping fails."""
    mapping = map_data(await sample(files, data_file))
    if mapping.failed:
        raise SimulatorError(
            HTTPStatus.INTERNAL_SERVER_ERROR, MAPPING_FAILED, str(data_file.file_id)
        )
    return mapping.rows


def data_mapping(
    entities: Entities, files: FileStore, data_file: StoredFile, *, validate: bool = False
) -> Work:
    """A new data set from the data file (its id is the result); with `validate`, no data
    set but a JSON Data Mapping Validation Result."""

    async def work() -> Result:
        if validate:
            mapping = map_data(await sample(files, data_file))
            report = {
                "result": "ERROR" if mapping.failed else "OK",
                "recordcount": len(mapping.rows) + len(mapping.errors),
                "errors": mapping.errors,
            }
            return Result(json.dumps(report), content_type=JSON_TYPE)
        return Result(str(entities.create_data_set(await mapped_rows(files, data_file))))

    return work


def existing(entities: Entities, family: Family, ids: list[int]) -> list[int]:
    """`ids`, after a 404 for the first that does not exist."""
    for entity_id in ids:
        if not entities.exists(family, entity_id):
            raise not_found(family.label, entity_id)
    return ids


def content_records(
    entities: Entities, *, data_set: int | None, record_ids: list[int], rows: list[Properties]
) -> list[int]:
    """The records content creation renders: a data set's, listed ones, or new ones made of
    JSON data (kept in a data set of their own)."""
    if data_set is not None:
        existing(entities, Family.DATASETS, [data_set])
        return entities.children(Family.DATASETS, data_set)
    if rows:
        return entities.children(Family.DATASETS, entities.create_data_set(rows))
    return existing(entities, Family.DATARECORDS, record_ids)


def content_creation(
    entities: Entities,
    *,
    data_set: int | None = None,
    record_ids: list[int] | None = None,
    rows: list[Properties] | None = None,
) -> Work:
    """A new content set, one item per record; the result is its id."""

    async def work() -> Result:
        ids = content_records(
            entities, data_set=data_set, record_ids=record_ids or [], rows=rows or []
        )
        return Result(str(entities.create_content_set(ids)))

    return work


def job_creation(entities: Entities, content_sets: list[int]) -> Work:
    """A new job set: one job per content set, one segment per content item."""

    async def work() -> Result:
        existing(entities, Family.CONTENTSETS, content_sets)
        jobs = [entities.children(Family.CONTENTSETS, c) for c in content_sets]
        return Result(str(entities.create_job_set(jobs)))

    return work


def job_creation_by_structure(entities: Entities, jobs: list[list[int]]) -> Work:
    """A new job set from a JSON Job Set Structure: the content items of each job."""

    async def work() -> Result:
        for items in jobs:
            existing(entities, Family.CONTENTITEMS, items)
        return Result(str(entities.create_job_set(jobs)))

    return work


def render_output(entities: Entities, jobs: list[int], title: str) -> bytes:
    """The simulated print output of some jobs: a PDF-shaped text naming what it holds."""
    lines = ["%PDF-1.4", f"% OL Connect simulator output of {title}"]
    for job in jobs:
        lines.append(f"% job {job}")
        for segment in entities.children(Family.JOBS, job):
            meta = {p["name"]: p["value"] for p in entities.metadata(Family.JOBSEGMENTS, segment)}
            lines.append(f"% segment {segment} customer={meta.get('customer', '')}")
            for document_set in entities.children(Family.JOBSEGMENTS, segment):
                documents = entities.children(Family.DOCUMENTSETS, document_set)
                lines.append(f"% document set {document_set}: documents {documents}")
    lines.append("%%EOF")
    return ("\n".join(lines) + "\n").encode()


async def output_file(
    entities: Entities, files: FileStore, *, job_set: int | None, jobs: list[int], config: str
) -> Result:
    """Output creation's result: the output file (also kept in the File Store) and its path."""
    if job_set is not None:
        existing(entities, Family.JOBSETS, [job_set])
        jobs, name = entities.children(Family.JOBSETS, job_set), f"jobset-{job_set}.pdf"
        title = f"job set {job_set} (preset {config})"
    else:
        existing(entities, Family.JOBS, jobs)
        name, title = f"jobs-{'-'.join(map(str, jobs))}.pdf", f"jobs {jobs} (preset {config})"
    stored = await files.add(name, FileKind.OUTPUT, render_output(entities, jobs, title))
    return Result(f"/simulator/output/{stored.file_id}/{stored.name}", stored)


def output_creation(
    entities: Entities,
    files: FileStore,
    config: str,
    *,
    job_set: int | None = None,
    jobs: list[int] | None = None,
) -> Work:
    """The output of a job set, or of some jobs."""

    async def work() -> Result:
        return await output_file(entities, files, job_set=job_set, jobs=jobs or [], config=config)

    return work


def conversion(files: FileStore, source: StoredFile) -> Work:
    """A PDF made of a PostScript file: names the source and carries its first line."""

    async def work() -> Result:
        first = (await sample(files, source)).split(b"\n", 1)[0][:200].decode("latin-1")
        body = f"%PDF-1.4\n% converted from {source.name} ({source.size} bytes): {first}\n%%EOF\n"
        stored = await files.add(f"{source.name}.pdf", FileKind.OUTPUT, body.encode())
        return Result(f"/simulator/output/{stored.file_id}/{stored.name}", stored)

    return work


def render_html(template: str, title: str, fields: Properties, css_selector: str = "") -> str:
    """A synchronous HTML rendering of one record's fields with a template; with a CSS
    selector `#record` only the table's inner HTML, any other selector matches nothing."""
    rows = "".join(
        f"<tr><th>{escape(f['name'])}</th><td>{escape(f['value'])}</td></tr>" for f in fields
    )
    if css_selector:
        return rows if css_selector.strip() == "#record" else ""
    return (
        f"<!DOCTYPE html><html><head><title>{escape(template)}</title></head>"
        f'<body><h1>{escape(title)}</h1><table id="record">{rows}</table></body></html>'
    )


def record_fields(entities: Entities, record: int) -> Properties:
    """The fields of an existing record (404 otherwise)."""
    existing(entities, Family.DATARECORDS, [record])
    return records.fields(entities, record)
