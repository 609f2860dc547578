"""What each operation does when it completes: data mapping, content, job and output creation,
all-in-one, conversion. Every result is derived from its inputs, so tests can assert on it."""

from __future__ import annotations

from html import escape

from gateway.simulator.model import records
from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.errors import not_found
from gateway.simulator.model.filestore import FileKind, FileStore, StoredFile
from gateway.simulator.model.operations import Result, Work

#: Data mapping reads this much of the data file, one record per non-blank line.
SAMPLE_BYTES = 64 * 1024
MAX_RECORDS = 100


async def _sample(files: FileStore, stored: StoredFile) -> bytes:
    try:
        return await files.head(stored, SAMPLE_BYTES)
    except FileNotFoundError:  # deleted while the operation ran
        raise not_found("managed file", stored.file_id) from None


def rows_of(sample: bytes) -> list[Properties]:
    """The records data mapping makes of a data file's first bytes: one per non-blank line."""
    lines = [line for line in sample.decode("utf-8", "replace").splitlines() if line.strip()]
    return [
        [{"name": "line", "value": line[:200]}, {"name": "number", "value": str(n)}]
        for n, line in enumerate(lines[:MAX_RECORDS], start=1)
    ]


def data_mapping(entities: Entities, files: FileStore, data_file: StoredFile) -> Work:
    """A new data set from the data file; the result is its id."""

    async def work() -> Result:
        return Result(str(entities.create_data_set(rows_of(await _sample(files, data_file)))))

    return work


def _existing(entities: Entities, family: Family, ids: list[int]) -> list[int]:
    for entity_id in ids:
        if not entities.exists(family, entity_id):
            raise not_found(family.singular, entity_id)
    return ids


def content_creation(entities: Entities, *, data_set: int | None, record_ids: list[int]) -> Work:
    """A new content set, one item per record of `data_set` (or per listed record)."""

    async def work() -> Result:
        if data_set is not None:
            if not entities.exists(Family.DATASETS, data_set):
                raise not_found("data set", data_set)
            ids = entities.children(Family.DATASETS, data_set)
        else:
            ids = _existing(entities, Family.DATARECORDS, record_ids)
        return Result(str(entities.create_content_set(ids)))

    return work


def job_creation(entities: Entities, content_sets: list[int]) -> Work:
    """A new job set: one job per content set, one segment per content item."""

    async def work() -> Result:
        _existing(entities, Family.CONTENTSETS, content_sets)
        return Result(str(entities.create_job_set(content_sets)))

    return work


def render_output(entities: Entities, job_set: int, config: str) -> bytes:
    """The simulated print output of a job set: a PDF-shaped text naming what it holds."""
    lines = ["%PDF-1.4", f"% OL Connect simulator output of job set {job_set} (preset {config})"]
    for job in entities.children(Family.JOBSETS, job_set):
        lines.append(f"% job {job}")
        for segment in entities.children(Family.JOBS, job):
            meta = {p["name"]: p["value"] for p in entities.metadata(Family.JOBSEGMENTS, segment)}
            lines.append(f"% segment {segment} customer={meta.get('customer', '')}")
            for document_set in entities.children(Family.JOBSEGMENTS, segment):
                documents = entities.children(Family.DOCUMENTSETS, document_set)
                lines.append(f"% document set {document_set}: documents {documents}")
    lines.append("%%EOF")
    return ("\n".join(lines) + "\n").encode()


async def _output(entities: Entities, files: FileStore, job_set: int, config: str) -> Result:
    if not entities.exists(Family.JOBSETS, job_set):
        raise not_found("job set", job_set)
    stored = await files.add(
        f"jobset-{job_set}.pdf", FileKind.OUTPUT, render_output(entities, job_set, config)
    )
    return Result(f"/simulator/output/{stored.file_id}/{stored.name}", stored)


def output_creation(entities: Entities, files: FileStore, job_set: int, config: str) -> Work:
    """The output file of a job set, kept in the File Store as well."""

    async def work() -> Result:
        return await _output(entities, files, job_set, config)

    return work


def all_in_one(
    entities: Entities,
    files: FileStore,
    data_file: StoredFile,
    stages: set[str],
    return_ids: bool,
) -> Work:
    """Data mapping, then whichever of content, job and output creation `stages` names."""

    async def work() -> Result:
        headers: dict[str, str] = {}
        data_set = entities.create_data_set(rows_of(await _sample(files, data_file)))
        result, kind, headers["X-Data-Set-ID"] = Result(str(data_set)), "DATA_SET", str(data_set)
        if "contentcreation" in stages:
            content_set = entities.create_content_set(entities.children(Family.DATASETS, data_set))
            result, kind = Result(str(content_set)), "CONTENT_SET"
            headers["X-Content-Set-ID"] = str(content_set)
            if "jobcreation" in stages:
                job_set = entities.create_job_set([content_set])
                result, kind = Result(str(job_set)), "JOB_SET"
                headers["X-Job-Set-ID"] = str(job_set)
                if "outputcreation" in stages:
                    result, kind = await _output(entities, files, job_set, "all-in-one"), "OUTPUT"
        headers["X-Result-Type"] = kind
        return Result(result.text, result.file, headers if return_ids else {})

    return work


def conversion(files: FileStore, source: StoredFile) -> Work:
    """A PDF made of a PostScript file: names the source and carries its first line."""

    async def work() -> Result:
        first = (await _sample(files, source)).split(b"\n", 1)[0][:200].decode("latin-1")
        body = f"%PDF-1.4\n% converted from {source.name} ({source.size} bytes): {first}\n%%EOF\n"
        stored = await files.add(f"{source.name}.pdf", FileKind.OUTPUT, body.encode())
        return Result(f"/simulator/output/{stored.file_id}/{stored.name}", stored)

    return work


def render_html(entities: Entities, template: str, record: int) -> str:
    """A synchronous HTML rendering of one data record with a template."""
    rows = "".join(
        f"<tr><th>{escape(f['name'])}</th><td>{escape(f['value'])}</td></tr>"
        for f in records.fields(entities, record)
    )
    return (
        f"<!DOCTYPE html><html><head><title>{escape(template)}</title></head>"
        f'<body><h1>Record {record}</h1><table id="record">{rows}</table></body></html>'
    )
