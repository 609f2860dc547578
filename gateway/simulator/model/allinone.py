"""All-In-One: data mapping, content, job and output creation in one operation.

A JSON All-In-One Configuration names "one or more specific processes … as long as the
processes specified result in a logical sequence" (OL Connect's reference): it starts with
`datamining` (a data file), with `contentcreation` listing record `identifiers`, or with
`outputcreation` listing job `identifiers`; job creation may be left out between content and
output creation. A configuration that is not such a sequence, or names a file or record that
does not exist, answers 400 when it is submitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.errors import bad_request
from gateway.simulator.model.filestore import FileStore, StoredFile
from gateway.simulator.model.operations import Result, Work
from gateway.simulator.model.workflows import mapped_rows, output_file

STAGES: Final = ("datamining", "contentcreation", "jobcreation", "outputcreation")
#: The sequences a configuration may name (job creation may be implied before output).
SEQUENCES: Final = frozenset(
    frozenset(stages)
    for stages in (
        STAGES[:1],
        STAGES[:2],
        STAGES[:3],
        STAGES,
        ("datamining", "contentcreation", "outputcreation"),
        STAGES[1:2],
        STAGES[1:3],
        STAGES[1:],
        ("contentcreation", "outputcreation"),
        STAGES[3:],
    )
)
NOT_FOUND = "Required Input resource/file not found"


@dataclass
class Plan:
    """What one all-in-one run does."""

    stages: frozenset[str]
    data_file: StoredFile | None = None
    records: list[int] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)
    return_ids: bool = False
    config: str = "all-in-one"


def _ids(section: dict[str, Any], where: str) -> list[int]:
    ids = section.get("identifiers")
    if not isinstance(ids, list) or not ids:
        raise bad_request(f"{where}.identifiers must list ids", f"{where}.identifiers")
    out: list[int] = []
    for value in ids:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"{where}.identifiers must list ids", f"{where}.identifiers")
        out.append(value)
    return out


def plan(body: object, entities: Entities, files: FileStore) -> Plan:
    """Check a configuration; 400 when it cannot run."""
    if not isinstance(body, dict):
        raise bad_request("expected a JSON All-In-One Configuration object")
    sections = {stage: body[stage] for stage in STAGES if isinstance(body.get(stage), dict)}
    stages = frozenset(sections)
    if stages not in SEQUENCES:
        raise bad_request("the processes specified do not result in a logical sequence")
    result = Plan(stages, return_ids=body.get("returnIdInHeader") is True)
    if "datamining" in stages:
        identifier = sections["datamining"].get("identifier")
        stored = files.find(str(identifier)) if isinstance(identifier, str | int) else None
        if stored is None or isinstance(identifier, bool):
            raise bad_request(NOT_FOUND, str(identifier))
        result.data_file = stored
    elif "contentcreation" in stages:
        result.records = _ids(sections["contentcreation"], "contentcreation")
        for record in result.records:
            if not entities.exists(Family.DATARECORDS, record):
                raise bad_request(NOT_FOUND, str(record))
    else:
        result.jobs = _ids(sections["outputcreation"], "outputcreation")
        for job in result.jobs:
            if not entities.exists(Family.JOBS, job):
                raise bad_request(NOT_FOUND, str(job))
    config = sections.get("outputcreation", {}).get("config")
    if isinstance(config, str | int) and not isinstance(config, bool):
        result.config = str(config)
    return result


def all_in_one(entities: Entities, files: FileStore, run: Plan) -> Work:
    """Run the planned stages; the result is what the last one made (`X-*-ID` headers and
    `X-Result-Type` too when `returnIdInHeader` was set)."""

    async def work() -> Result:
        headers: dict[str, str] = {}
        records, kind, result = run.records, "", Result("")
        if run.data_file is not None:
            data_set = entities.create_data_set(await mapped_rows(files, run.data_file))
            records, kind = entities.children(Family.DATASETS, data_set), "DATA_SET"
            result = Result(str(data_set))
            headers["X-Data-Set-ID"] = str(data_set)
        job_set: int | None = None
        if "contentcreation" in run.stages:
            content_set = entities.create_content_set(records)
            result, kind = Result(str(content_set)), "CONTENT_SET"
            headers["X-Content-Set-ID"] = str(content_set)
            if {"jobcreation", "outputcreation"} & run.stages:
                job_set = entities.create_job_set(
                    [entities.children(Family.CONTENTSETS, content_set)]
                )
                result, kind = Result(str(job_set)), "JOB_SET"
                headers["X-Job-Set-ID"] = str(job_set)
        if "outputcreation" in run.stages:
            result = await output_file(
                entities, files, job_set=job_set, jobs=run.jobs, config=run.config
            )
            kind = "OUTPUT"
        headers["X-Result-Type"] = kind
        return Result(result.text, result.file, headers if run.return_ids else {})

    return work
