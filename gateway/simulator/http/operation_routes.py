"""The workflow services: starting operations (202 + operationId + Link), polling, results,
cancelling, and the synchronous HTML render."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.simulator.http.answers import (
    base_url,
    body_id,
    id_list,
    json_answer,
    path_id,
    read_json,
    text_answer,
)
from gateway.simulator.http.entity_routes import require_all
from gateway.simulator.http.file_routes import managed_file, send_file
from gateway.simulator.http.routing import BASE, RouteTable, sim_of
from gateway.simulator.model import workflows
from gateway.simulator.model.entities import Family
from gateway.simulator.model.errors import SimulatorError, bad_request, not_found
from gateway.simulator.model.filestore import StoredFile
from gateway.simulator.model.operations import Operation, OperationType, Result, Work

#: ROUTES prefix, base path and operation type of each service that runs operations.
OPERATION_SERVICES = (
    ("email", "/workflow/contentcreation/email", OperationType.EMAIL),
    ("contentcreation", "/workflow/contentcreation", OperationType.CONTENT_CREATION),
    ("datamining", "/workflow/datamining", OperationType.DATA_MINING),
    ("jobcreation", "/workflow/jobcreation", OperationType.JOB_CREATION),
    ("outputcreation", "/workflow/outputcreation", OperationType.OUTPUT_CREATION),
    ("print", "/workflow/print", OperationType.PRINT),
    ("converter", "/converter", OperationType.CONVERSION),
)
_BASES = {prefix: (base, kind) for prefix, base, kind in OPERATION_SERVICES}
table = RouteTable()


def started(request: web.Request, prefix: str, work: Work) -> web.StreamResponse:
    """Register an operation of service `prefix` and answer 202 with its id and Links.

    The Link URLs are absolute, built from the scheme, host and port this request was
    addressed to (and the path the server is served under), as OL Connect builds them.
    """
    base, kind = _BASES[prefix]
    operation = sim_of(request).operations.start(base, kind, work)
    root = f"{base_url(request)}{BASE}{base}"
    links = ", ".join(
        f'<{root}/{verb}/{operation.op_id}>; rel="{rel}"'
        for verb, rel in (
            ("getProgress", "progress"),
            ("getResult", "result"),
            ("cancel", "cancel"),
        )
    )
    return web.Response(
        status=HTTPStatus.ACCEPTED, headers={"operationId": operation.op_id, "Link": links}
    )


def _operation(request: web.Request, base: str) -> Operation:
    op_id = request.match_info["operationId"]
    operation = sim_of(request).operations.get(base, op_id)
    if operation is None:
        raise not_found("operation", op_id)
    return operation


def _polling(prefix: str, base: str) -> None:
    async def operations(request: web.Request) -> web.StreamResponse:
        return json_answer(sim_of(request).operations.running(base))

    async def progress(request: web.Request) -> web.StreamResponse:
        return text_answer(await sim_of(request).operations.poll(_operation(request, base)))

    async def finished(request: web.Request) -> Result:
        operation = _operation(request, base)
        ops = sim_of(request).operations
        if not ops.done(operation):
            raise SimulatorError(HTTPStatus.CONFLICT, "operation has not finished", operation.op_id)
        return await ops.finish(operation)

    async def result(request: web.Request) -> web.StreamResponse:
        done = await finished(request)
        if done.file is not None:
            return await send_file(request, done.file, done.headers)
        return text_answer(done.text, done.headers)

    async def result_txt(request: web.Request) -> web.StreamResponse:
        done = await finished(request)
        return text_answer(done.text, done.headers)

    async def managed_result(request: web.Request) -> web.StreamResponse:
        done = await finished(request)
        return text_answer(str(done.file.file_id) if done.file else done.text, done.headers)

    async def cancel(request: web.Request) -> web.StreamResponse:
        sim_of(request).operations.cancel(_operation(request, base))
        return web.Response(status=HTTPStatus.NO_CONTENT)

    table.get(f"{base}/getOperations", f"{prefix}.operations")(operations)
    table.get(f"{base}/getProgress/{{operationId}}", f"{prefix}.progress")(progress)
    table.post(f"{base}/getResult/{{operationId}}", f"{prefix}.result")(result)
    table.post(f"{base}/cancel/{{operationId}}", f"{prefix}.cancel")(cancel)
    if prefix in ("outputcreation", "print"):
        table.post(f"{base}/getResultTxt/{{operationId}}", f"{prefix}.result_txt")(result_txt)
        table.post(f"{base}/getManagedResult/{{operationId}}", f"{prefix}.managed_result")(
            managed_result
        )


for _prefix, _base, _kind in OPERATION_SERVICES:
    _polling(_prefix, _base)


def _existing_id(request: web.Request, param: str, family: Family) -> int:
    value = path_id(request, param)
    if value is None or not sim_of(request).entities.exists(family, value):
        raise not_found(family.label, request.match_info[param])
    return value


def _data_file(request: web.Request, identifier: object) -> StoredFile:
    if not isinstance(identifier, str | int) or isinstance(identifier, bool):
        raise bad_request("identifier must name a managed file", "identifier")
    stored = sim_of(request).files.find(str(identifier))
    if stored is None:
        raise not_found("managed file", identifier)
    return stored


def _by_records(prefix: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        ids = id_list(await read_json(request))
        entities = sim_of(request).entities
        require_all(entities, Family.DATARECORDS, ids)
        return started(
            request, prefix, workflows.content_creation(entities, data_set=None, record_ids=ids)
        )

    return handler


def _by_data_set(prefix: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        data_set = _existing_id(request, "dataSetId", Family.DATASETS)
        work = workflows.content_creation(
            sim_of(request).entities, data_set=data_set, record_ids=[]
        )
        return started(request, prefix, work)

    return handler


for _prefix, _base in (
    ("email", "/workflow/contentcreation/email"),
    ("contentcreation", "/workflow/contentcreation"),
):
    table.post(f"{_base}/{{templateId}}/{{dataSetId}}", f"{_prefix}.start")(_by_data_set(_prefix))
    table.post(f"{_base}/{{templateId}}", f"{_prefix}.start_records")(_by_records(_prefix))


@table.post("/workflow/datamining/{configId}/{dataFileId}", "datamining.start")
async def data_mapping(request: web.Request) -> web.StreamResponse:
    stored = managed_file(request, "dataFileId")
    sim = sim_of(request)
    return started(request, "datamining", workflows.data_mapping(sim.entities, sim.files, stored))


@table.post("/workflow/datamining/{configId}", "datamining.start_json")
async def data_mapping_json(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict) or "identifier" not in body:
        raise bad_request("expected a JSON object with identifier", "identifier")
    stored = _data_file(request, body["identifier"])
    sim = sim_of(request)
    return started(request, "datamining", workflows.data_mapping(sim.entities, sim.files, stored))


@table.post("/workflow/jobcreation/{configId}", "jobcreation.start")
async def job_creation(request: web.Request) -> web.StreamResponse:
    content_sets = id_list(await read_json(request))
    if not content_sets:
        raise bad_request("identifiers must name at least one content set", "identifiers")
    entities = sim_of(request).entities
    require_all(entities, Family.CONTENTSETS, content_sets)
    return started(request, "jobcreation", workflows.job_creation(entities, content_sets))


def _output(request: web.Request, job_set: int) -> web.StreamResponse:
    sim = sim_of(request)
    config = request.match_info["configId"]
    return started(
        request,
        "outputcreation",
        workflows.output_creation(sim.entities, sim.files, job_set, config),
    )


@table.post("/workflow/outputcreation/{configId}/{jobSetId}", "outputcreation.start")
async def output_creation(request: web.Request) -> web.StreamResponse:
    return _output(request, _existing_id(request, "jobSetId", Family.JOBSETS))


@table.post("/workflow/outputcreation/{configId}", "outputcreation.start_json")
async def output_creation_json(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict) or "identifier" not in body:
        raise bad_request("expected a JSON object with identifier", "identifier")
    job_set = body_id(body["identifier"], "identifier")
    require_all(sim_of(request).entities, Family.JOBSETS, [job_set])
    return _output(request, job_set)


@table.post("/workflow/print/submit", "print.start")
async def all_in_one(request: web.Request) -> web.StreamResponse:
    """All-In-One: `{"datamining": {"identifier": <data file id or name>}, "contentcreation": {},
    "jobcreation": {}, "outputcreation": {}, "returnIdInHeader": true}`; later sections optional."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("datamining"), dict):
        raise bad_request("expected a JSON object with a datamining section", "datamining")
    stored = _data_file(request, body["datamining"].get("identifier"))
    stages = {
        s
        for s in ("contentcreation", "jobcreation", "outputcreation")
        if isinstance(body.get(s), dict)
    }
    sim = sim_of(request)
    work = workflows.all_in_one(
        sim.entities, sim.files, stored, stages, body.get("returnIdInHeader") is True
    )
    return started(request, "print", work)


@table.post("/converter/pstopdf/{fileId}", "converter.start")
async def ps_to_pdf(request: web.Request) -> web.StreamResponse:
    stored = managed_file(request)
    return started(request, "converter", workflows.conversion(sim_of(request).files, stored))


@table.get("/workflow/contentcreation/html/{templateId}/{dataRecordId}", "html.render")
async def render_html(request: web.Request) -> web.StreamResponse:
    record = _existing_id(request, "dataRecordId", Family.DATARECORDS)
    html = workflows.render_html(sim_of(request).entities, request.match_info["templateId"], record)
    return web.Response(text=html, content_type="text/html")
