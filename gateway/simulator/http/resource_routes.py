"""File Store routes about what a stored file holds: template reports, runtime parameters, and
the internal synchronisation uploads by id (`POST filestore/file|dir/{fileId}`)."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.simulator.http.answers import JSON_TYPE, accepts, json_answer, text_answer
from gateway.simulator.http.file_routes import managed_file
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model import reports
from gateway.simulator.model.errors import SimulatorError, bad_request, not_found
from gateway.simulator.model.filestore import CHUNK, EmptyUpload, FileKind

#: The most of a template the simulator reads to report on it.
MAX_TEMPLATE = 16 * 1024 * 1024
XML_TYPE = "application/xml"
table = RouteTable()


def _sync() -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raw = request.match_info["fileId"]
        files = sim_of(request).files
        existing = files.find(raw)
        if existing is not None:
            file_id, name = existing.file_id, existing.name
        elif raw.isascii() and raw.isdigit() and len(raw) <= 18:
            file_id, name = int(raw), None
        else:
            file_id, name = files.next_id, raw
        chunks = request.content.iter_chunked(CHUNK)
        try:
            stored = await files.store_at(file_id, chunks, name)
        except EmptyUpload:
            raise bad_request("the request body is empty") from None
        return text_answer(str(stored.file_id))

    return handler


# "Synchronize/Upload … (Internal Only)": what they answer is not documented [U]; the
# simulator stores the body under the id (a directory arrives as a zip) and answers it.
table.post("/filestore/file/{fileId}", "filestore.sync_file")(_sync())
table.post("/filestore/dir/{fileId}", "filestore.sync_dir")(_sync())


def _runtime_parameters(kind: FileKind) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        stored = managed_file(request)
        if stored.kind is not kind:
            raise not_found(kind.value.replace("_", " ").lower(), request.match_info["fileId"])
        # The shape of a runtime parameter definition is not documented [U]; the simulated
        # configurations declare none.
        return json_answer([])

    return handler


table.get("/filestore/DataMiningConfig/runtimeparameters/{fileId}", "filestore.runtime_datamining")(
    _runtime_parameters(FileKind.DATA_MAPPING_CONFIG)
)
table.get(
    "/filestore/JobCreationConfig/runtimeparameters/{fileId}", "filestore.runtime_jobcreation"
)(_runtime_parameters(FileKind.JOB_CREATION_CONFIG))


@table.get("/filestore/template/report/{fileId}", "filestore.report")
async def template_report(request: web.Request) -> web.StreamResponse:
    """JSON when `Accept` allows it (or is absent), else XML, else 406."""
    files = sim_of(request).files
    stored = files.find(request.match_info["fileId"])
    if stored is None or stored.kind is not FileKind.TEMPLATE:
        raise not_found("Template", request.match_info["fileId"])
    tag = request.query.get("filter")
    if tag is not None and tag not in reports.FILTERS:
        raise bad_request("Invalid filter", tag)
    accept = request.headers.get(hdrs.ACCEPT, "*/*")
    if not accepts(accept, JSON_TYPE) and not accepts(accept, XML_TYPE):
        raise SimulatorError(HTTPStatus.NOT_ACCEPTABLE, "report is JSON or XML only", accept)
    data = await files.head(stored, MAX_TEMPLATE)
    report = reports.report(stored.name, stored.size, data, tag)
    if accepts(accept, JSON_TYPE):
        return json_answer(report)
    return web.Response(body=reports.as_xml(report), content_type=XML_TYPE)
