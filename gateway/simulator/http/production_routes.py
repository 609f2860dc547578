"""Starting job creation, output creation, all-in-one and PostScript conversion operations."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from gateway.simulator.http.answers import body_id, id_list, read_json, read_optional_json
from gateway.simulator.http.entity_routes import entity_id, require_all
from gateway.simulator.http.file_routes import managed_file, send_file
from gateway.simulator.http.operation_routes import started
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model import allinone, workflows
from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.errors import SimulatorError, bad_request
from gateway.simulator.model.filestore import CHUNK, EmptyUpload, FileKind
from gateway.simulator.model.operations import Result
from gateway.simulator.model.records import java_bool

table = RouteTable()


def _job_creation(request: web.Request, content_sets: list[int]) -> web.StreamResponse:
    if not content_sets:
        raise bad_request("identifiers must name at least one content set", "identifiers")
    entities = sim_of(request).entities
    require_all(entities, Family.CONTENTSETS, content_sets)
    return started(request, "jobcreation", workflows.job_creation(entities, content_sets))


def _created_content_sets(entities: Entities) -> list[int]:
    """What a job preset works on when the request names nothing: the print content sets
    operations made (the simulator's choice; OL Connect's preset decides [U]), else set 1."""
    created = [
        c
        for c in range(entities.highest(Family.CONTENTSETS), 0, -1)
        if entities.exists(Family.CONTENTSETS, c) and c not in entities.email_sets
    ]
    derived = (entities.data.count + 3) // 4
    return sorted(c for c in created if c > derived) or [1]


@table.post("/workflow/jobcreation", "jobcreation.start_structure")
async def job_creation_by_structure(request: web.Request) -> web.StreamResponse:
    """A JSON Job Set Structure: jobs > segments > document sets > documents > pages, each
    page naming a content item; the simulator makes one segment per distinct item of a job."""
    body = await read_json(request)
    try:
        jobs = [
            list(
                dict.fromkeys(
                    body_id(page["contentitem"], "contentitem")
                    for segment in job["segments"]
                    for document_set in segment["documentsets"]
                    for document in document_set["documents"]
                    for page in document["documentpages"]
                )
            )
            for job in body["jobs"]
        ]
    except (KeyError, TypeError):
        raise bad_request("expected a JSON Job Set Structure") from None
    entities = sim_of(request).entities
    for items in jobs:
        require_all(entities, Family.CONTENTITEMS, items)
    return started(request, "jobcreation", workflows.job_creation_by_structure(entities, jobs))


@table.post("/workflow/jobcreation/default/{contentSetId}", "jobcreation.start_default_set")
async def job_creation_default_set(request: web.Request) -> web.StreamResponse:
    """Without a preset, by content set in the path (the 2024.1 reference; takes no body)."""
    return _job_creation(request, [entity_id(request, Family.CONTENTSETS, "contentSetId")])


@table.post("/workflow/jobcreation/default", "jobcreation.start_default")
async def job_creation_default(request: web.Request) -> web.StreamResponse:
    """Without a preset, content sets in a JSON Identifier List (the vendor's client)."""
    return _job_creation(request, id_list(await read_json(request)))


@table.post("/workflow/jobcreation/{configId}", "jobcreation.start")
async def job_creation(request: web.Request) -> web.StreamResponse:
    """Content set ids (with runtime parameters), or no content at all."""
    body = await read_optional_json(request)
    if body is None:
        return _job_creation(request, _created_content_sets(sim_of(request).entities))
    return _job_creation(request, id_list(body))


def _output(
    request: web.Request, *, job_set: int | None = None, jobs: list[int] | None = None
) -> web.StreamResponse:
    sim = sim_of(request)
    config = request.match_info["configId"]
    work = workflows.output_creation(sim.entities, sim.files, config, job_set=job_set, jobs=jobs)
    return started(request, "outputcreation", work)


def _invalid_identifier(exc: SimulatorError) -> SimulatorError:
    # OL Connect: 500 "JSON Identifier invalid or missing required structure".
    message = "JSON Identifier invalid or missing required structure"
    return SimulatorError(HTTPStatus.INTERNAL_SERVER_ERROR, message, exc.parameter)


async def _output_body(request: web.Request, key: str) -> Any:
    body = await read_json(request)
    try:
        if key == "identifier":
            if not isinstance(body, dict) or "identifier" not in body:
                raise bad_request("expected a JSON object with identifier", "identifier")
            return body_id(body["identifier"], "identifier")
        return id_list(body)
    except SimulatorError as exc:
        raise _invalid_identifier(exc) from None


@table.post("/workflow/outputcreation/{configId}/jobs", "outputcreation.start_jobs")
async def output_creation_jobs(request: web.Request) -> web.StreamResponse:
    jobs = await _output_body(request, "identifiers")
    require_all(sim_of(request).entities, Family.JOBS, jobs)
    return _output(request, jobs=jobs)


@table.post("/workflow/outputcreation/{configId}/{jobSetId}", "outputcreation.start")
async def output_creation(request: web.Request) -> web.StreamResponse:
    return _output(request, job_set=entity_id(request, Family.JOBSETS, "jobSetId"))


@table.post("/workflow/outputcreation/{configId}", "outputcreation.start_json")
async def output_creation_json(request: web.Request) -> web.StreamResponse:
    job_set = await _output_body(request, "identifier")
    require_all(sim_of(request).entities, Family.JOBSETS, [job_set])
    return _output(request, job_set=job_set)


@table.get("/workflow/outputcreation/execute/{args}/{size}", "outputcreation.execute")
async def execute(request: web.Request) -> web.StreamResponse:
    """ "Run +PReS Enhance Workflow Configuration": its semantics are not documented [U]; the
    simulator runs an operation whose output names the arguments."""
    sim, args, size = sim_of(request), request.match_info["args"], request.match_info["size"]

    async def work() -> Result:
        body = f"% PReS Enhance configuration run: args={args} size={size}\n".encode()
        stored = await sim.files.add(f"execute-{size}.txt", FileKind.OUTPUT, body)
        return Result(f"/simulator/output/{stored.file_id}/{stored.name}", stored)

    return started(request, "outputcreation", work)


@table.post("/workflow/print/submit", "print.start")
async def all_in_one(request: web.Request) -> web.StreamResponse:
    """A JSON All-In-One Configuration (see `model.allinone`)."""
    sim = sim_of(request)
    run = allinone.plan(await read_json(request), sim.entities, sim.files)
    return started(request, "print", allinone.all_in_one(sim.entities, sim.files, run))


@table.post(
    "/workflow/print/{dmConfigId}/{templateId}/{jcConfigId}/{ocConfigId}", "print.start_adhoc"
)
async def all_in_one_adhoc(request: web.Request) -> web.StreamResponse:
    """All-in-one on the data file in the body; `async=false` answers the output itself."""
    sim = sim_of(request)
    try:
        stored = await sim.files.receive(
            request.content.iter_chunked(CHUNK), None, FileKind.DATA_FILE, persistent=False
        )
    except EmptyUpload:
        raise bad_request("the request body is empty") from None
    run = allinone.Plan(frozenset(allinone.STAGES), data_file=stored)
    run.config = request.match_info["ocConfigId"]
    work = allinone.all_in_one(sim.entities, sim.files, run)
    if java_bool(request.query.get("async"), default=True):
        return started(request, "print", work)
    done = await work()
    assert done.file is not None  # noqa: S101 - the full sequence ends with an output file
    return await send_file(request, done.file, done.headers)


@table.post("/converter/pstopdf/{fileId}", "converter.start")
async def ps_to_pdf(request: web.Request) -> web.StreamResponse:
    stored = managed_file(request)
    return started(request, "converter", workflows.conversion(sim_of(request).files, stored))
