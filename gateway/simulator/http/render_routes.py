"""Synchronous renders: preview PDFs and images, HTML content creation, template resources,
and the Conversion Service's rasterizing (`POST workflow/rasterize/{dataFileId}`).

A preview PDF is stored in the File Store and its Managed File ID answered (so
`GET pdfpreviewdirect` creates a file on every call: a GET with a side effect).
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.simulator.http.answers import read_optional_json, text_answer
from gateway.simulator.http.entity_routes import entity_id
from gateway.simulator.http.file_routes import attachment, managed_file
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model import previews, records, reports, workflows
from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import Family
from gateway.simulator.model.errors import bad_request, not_found
from gateway.simulator.model.filestore import CHUNK, EmptyUpload, FileKind

CC = "/workflow/contentcreation"
HTML = f"{CC}/html"
#: The sections of every simulated template (its report says the same).
SECTIONS = ("Section 1",)
INLINE = ("NONE", "CSS", "ALL", "LOCAL")
table = RouteTable()


def _query_record(request: web.Request) -> tuple[str, Properties]:
    """`?templateId=…&dataRecordId=…`: the template name and the record's fields."""
    template = request.query.get("templateId")
    raw = request.query.get("dataRecordId", "")
    if not template or not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        raise bad_request("templateId and a numeric dataRecordId are required", "dataRecordId")
    entities = sim_of(request).entities
    if not entities.exists(Family.DATARECORDS, int(raw)):
        raise not_found("data record", raw)
    return template, records.fields(entities, int(raw))


async def _stored_preview(request: web.Request, template: str, rows: list[Properties]) -> str:
    pdf = previews.preview_pdf(template, rows)
    stored = await sim_of(request).files.add(f"{template}-preview.pdf", FileKind.OUTPUT, pdf)
    return str(stored.file_id)


def _pdf_direct(read_body: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        template, fields = _query_record(request)
        if read_body:
            await read_optional_json(request)  # JSON Parameters: runtime parameters
        return text_answer(await _stored_preview(request, template, [fields]))

    return handler


table.get(f"{CC}/pdfpreviewdirect", "contentcreation.pdfpreviewdirect")(_pdf_direct(False))
table.post(f"{CC}/pdfpreviewdirect", "contentcreation.pdfpreviewdirect_post")(_pdf_direct(True))


@table.post(f"{CC}/pdfpreview/{{templateId}}/{{dmConfigId}}", "contentcreation.pdfpreview_file")
async def pdf_preview_of_file(request: web.Request) -> web.StreamResponse:
    """The data file is the body (application/octet-stream); its first record is previewed."""
    files = sim_of(request).files
    try:
        stored = await files.receive(
            request.content.iter_chunked(CHUNK), None, FileKind.DATA_FILE, persistent=False
        )
    except EmptyUpload:
        raise bad_request("the request body must be the data file") from None
    try:
        rows = await workflows.mapped_rows(files, stored)
    finally:
        files.delete(stored)
    return text_answer(await _stored_preview(request, request.match_info["templateId"], rows[:1]))


@table.post(f"{CC}/pdfpreview/{{templateId}}", "contentcreation.pdfpreview_json")
async def pdf_preview_of_data(request: web.Request) -> web.StreamResponse:
    body = await read_optional_json(request)
    if not isinstance(body, dict) or "data" not in body:
        raise bad_request("expected a JSON Record Data List", "data")
    rows = previews.record_data(body["data"])
    return text_answer(await _stored_preview(request, request.match_info["templateId"], rows))


def _image(rendered: previews.Rendered) -> web.Response:
    return web.Response(
        body=rendered.body,
        headers={
            hdrs.CONTENT_TYPE: rendered.content_type,
            hdrs.CONTENT_DISPOSITION: attachment(rendered.filename),
        },
    )


@table.post(f"{CC}/imagepreview", "contentcreation.imagepreview")
async def image_preview_of_record(request: web.Request) -> web.StreamResponse:
    """JSON Image Parameters (optional) for a record named in the query."""
    template, _fields = _query_record(request)
    params = await read_optional_json(request)
    return _image(previews.render_pages(params or {}, 1, f"{template}-preview"))


@table.post(f"{CC}/imagepreview/{{templateId}}", "contentcreation.imagepreview_json")
async def image_preview_of_data(request: web.Request) -> web.StreamResponse:
    """A JSON Record Data List with Image Parameters: one page per record."""
    body = await read_optional_json(request)
    if not isinstance(body, dict) or "data" not in body:
        raise bad_request("expected a JSON Record Data List", "data")
    rows = previews.record_data(body["data"])
    stem = f"{request.match_info['templateId']}-preview"
    return _image(previews.render_pages(body, len(rows), stem))


@table.post("/workflow/rasterize/{dataFileId}", "rasterize.render")
async def rasterize(request: web.Request) -> web.StreamResponse:
    """The Conversion Service: a PDF/PS/AFP/PCL file in the File Store as bitmaps, at once."""
    stored = managed_file(request, "dataFileId")
    params = await read_optional_json(request)
    total = previews.page_count(await workflows.sample(sim_of(request).files, stored))
    return _image(previews.render_pages(params or {}, total, stored.name.rsplit(".", 1)[0]))


def _html_options(request: web.Request, body: object) -> str:
    """`section`, `inline`, `cssSelector` (query, or JSON HTML Parameters); the selector."""
    options = dict(request.query)
    if isinstance(body, dict):
        options.update({k: v for k, v in body.items() if isinstance(v, str)})
    section = options.get("section", "")
    if section and section not in SECTIONS:
        raise bad_request(f"Section {section} not found", section)
    if options.get("inline", "NONE").upper() not in INLINE:
        raise bad_request(f"inline must be one of {', '.join(INLINE)}", "inline")
    return options.get("cssSelector", "")


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


def _html_of_record(read_body: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        record = entity_id(request, Family.DATARECORDS, "dataRecordId")
        body = await read_optional_json(request) if read_body else None
        selector = _html_options(request, body)
        fields = records.fields(sim_of(request).entities, record)
        template = request.match_info["templateId"]
        return _html(workflows.render_html(template, f"Record {record}", fields, selector))

    return handler


table.get(f"{HTML}/{{templateId}}/{{dataRecordId:[0-9]+}}", "html.render")(_html_of_record(False))
table.post(f"{HTML}/{{templateId}}/{{dataRecordId:[0-9]+}}", "html.render_post")(
    _html_of_record(True)
)


@table.post(f"{HTML}/{{templateId}}", "html.render_json")
async def html_of_data(request: web.Request) -> web.StreamResponse:
    """A JSON Record Data List (its first record), or no data at all."""
    body = await read_optional_json(request)
    selector = _html_options(request, None)
    fields: Properties = []
    if body is not None:
        if not isinstance(body, dict) or "data" not in body:
            raise bad_request("expected a JSON Record Data List", "data")
        fields = previews.record_data(body["data"])[0]
    template = request.match_info["templateId"]
    return _html(workflows.render_html(template, "Data", fields, selector))


@table.get(f"{HTML}/{{templateId}}/{{relPath:.+}}", "html.resource")
async def template_resource(request: web.Request) -> web.StreamResponse:
    """A file inside an uploaded template (a zip, as `.OL-template` files are)."""
    files = sim_of(request).files
    template = files.find(request.match_info["templateId"])
    rel = request.match_info["relPath"]
    if template is None or template.kind is not FileKind.TEMPLATE:
        raise not_found("Template", request.match_info["templateId"])
    data = reports.member(await files.head(template, 16 * 1024 * 1024), rel)
    if data is None:
        raise not_found("template resource", rel)
    return web.Response(body=data, content_type="application/octet-stream")
