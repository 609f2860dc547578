"""The routes that start operations: 202 + `operationId` + `Link` (see `operation_routes`).

Several share a URI and differ by body only, as in OL Connect: `contentcreation/{templateId}`
takes record ids or JSON data, `jobcreation/{configId}` content set ids or nothing.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.simulator.http.answers import id_list, read_json, read_optional_json
from gateway.simulator.http.entity_routes import entity_id, require_all
from gateway.simulator.http.file_routes import managed_file
from gateway.simulator.http.operation_routes import started
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model import emails, previews, workflows
from gateway.simulator.model.entities import Family
from gateway.simulator.model.errors import SimulatorError, bad_request, not_found
from gateway.simulator.model.operations import Result
from gateway.simulator.model.records import java_bool

table = RouteTable()


def _template(request: web.Request) -> dict[str, str]:
    return {"template": request.match_info["templateId"]}


def _records_or_data(body: object) -> tuple[list[int], list[Any]]:
    """`{"identifiers": [...]}` (By Data Record) or `{"data": ...}` (By Data), same URI."""
    if isinstance(body, dict) and "data" in body and "identifiers" not in body:
        return [], previews.record_data(body["data"])
    return id_list(body), []


@table.post("/workflow/contentcreation/email/{templateId}/{dataSetId}", "email.start")
async def email_by_data_set(request: web.Request) -> web.StreamResponse:
    data_set = entity_id(request, Family.DATASETS, "dataSetId")
    options = await read_optional_json(request) or {}
    sim = sim_of(request)
    work = emails.email_creation(
        sim.entities, sim.files, request.match_info["templateId"], options, data_set=data_set
    )
    return started(request, "email", work, _template(request))


@table.post("/workflow/contentcreation/email/{templateId}", "email.start_records")
async def email_by_records(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    ids, rows = _records_or_data(body)
    sim = sim_of(request)
    require_all(sim.entities, Family.DATARECORDS, ids)
    template = request.match_info["templateId"]
    work = emails.email_creation(sim.entities, sim.files, template, body, record_ids=ids, rows=rows)
    return started(request, "email", work, _template(request))


@table.post("/workflow/contentcreation/{templateId}/{dataSetId}", "contentcreation.start")
async def content_by_data_set(request: web.Request) -> web.StreamResponse:
    data_set = entity_id(request, Family.DATASETS, "dataSetId")
    await read_optional_json(request)  # `{"parameters": {...}}` or nothing
    work = workflows.content_creation(sim_of(request).entities, data_set=data_set)
    return started(request, "contentcreation", work, _template(request))


@table.post("/workflow/contentcreation/{templateId}", "contentcreation.start_records")
async def content_by_records(request: web.Request) -> web.StreamResponse:
    ids, rows = _records_or_data(await read_json(request))
    entities = sim_of(request).entities
    require_all(entities, Family.DATARECORDS, ids)
    work = workflows.content_creation(entities, record_ids=ids, rows=rows)
    return started(request, "contentcreation", work, _template(request))


def _data_file(request: web.Request, identifier: object) -> Any:
    if not isinstance(identifier, str | int) or isinstance(identifier, bool):
        # OL Connect: 500 "JSON Identifier bad or missing".
        raise SimulatorError(
            HTTPStatus.INTERNAL_SERVER_ERROR, "JSON Identifier bad or missing", "identifier"
        )
    stored = sim_of(request).files.find(str(identifier))
    if stored is None:
        raise not_found("Datafile", identifier)
    return stored


def _pdf_records(pages: int) -> list[Any]:
    return [[{"name": "page", "value": str(n)}] for n in range(1, pages + 1)]


def _pdfvt(to_content: bool) -> Handler:
    """PDF/VT to a data set (one record per page), or on to a content set."""

    async def handler(request: web.Request) -> web.StreamResponse:
        stored = managed_file(request, "dataFileId")
        sim = sim_of(request)

        async def work() -> Result:
            total = previews.page_count(await workflows.sample(sim.files, stored))
            data_set = sim.entities.create_data_set(_pdf_records(total))
            if not to_content:
                return Result(str(data_set))
            records = sim.entities.children(Family.DATASETS, data_set)
            return Result(str(sim.entities.create_content_set(records)))

        return started(request, "datamining", work)

    return handler


table.post("/workflow/datamining/pdfvtds/{dataFileId}", "datamining.pdfvtds")(_pdfvt(False))
table.post("/workflow/datamining/pdfvtcs/{dataFileId}", "datamining.pdfvtcs")(_pdfvt(True))


@table.post("/workflow/datamining/createcontentset/{dataFileId}", "datamining.createcontentset")
async def create_content_set(request: web.Request) -> web.StreamResponse:
    """`{"identifier": <data mapping config>, "defaults": {duplex, tumble}, "parameters"}`."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("identifier"), str | int):
        raise bad_request("expected a JSON object with identifier", "identifier")
    stored = managed_file(request, "dataFileId")
    sim = sim_of(request)

    async def work() -> Result:
        total = previews.page_count(await workflows.sample(sim.files, stored))
        data_set = sim.entities.create_data_set(_pdf_records(total))
        records = sim.entities.children(Family.DATASETS, data_set)
        return Result(str(sim.entities.create_content_set(records)))

    return started(request, "datamining", work)


@table.post("/workflow/datamining/{configId}/{dataFileId}", "datamining.start")
async def data_mapping(request: web.Request) -> web.StreamResponse:
    stored = managed_file(request, "dataFileId")
    validate = java_bool(request.query.get("validate"))
    sim = sim_of(request)
    work = workflows.data_mapping(sim.entities, sim.files, stored, validate=validate)
    return started(request, "datamining", work)


@table.post("/workflow/datamining/{configId}", "datamining.start_json")
async def data_mapping_json(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    stored = _data_file(request, body.get("identifier") if isinstance(body, dict) else None)
    validate = java_bool(request.query.get("validate"))
    sim = sim_of(request)
    work = workflows.data_mapping(sim.entities, sim.files, stored, validate=validate)
    return started(request, "datamining", work)
