"""The File Store service: streamed uploads and downloads, HEAD, delete (GET and POST), resources.

Like the JAX-RS server it models, the simulator answers HEAD on a GET route by running the
GET: `HEAD filestore/delete/{id}` deletes the file (FIDELITY A2).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import quote

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.simulator.http.answers import json_answer, text_answer, true_answer
from gateway.simulator.http.middlewares import compress
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model.errors import SimulatorError, bad_request, not_found
from gateway.simulator.model.filestore import (
    CHUNK,
    RESOURCE_TYPES,
    EmptyUpload,
    FileKind,
    StoredFile,
)
from gateway.simulator.model.records import java_bool

OCTET_STREAM = "application/octet-stream"
table = RouteTable()


def _upload(kind: FileKind) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        persistent = java_bool(request.query.get("persistent"))  # `True` too (FIDELITY B17)
        name = request.query.get("filename") or None
        chunks = request.content.iter_chunked(CHUNK)
        try:
            stored = await sim_of(request).files.receive(chunks, name, kind, persistent)
        except EmptyUpload:
            raise bad_request("the request body is empty") from None
        return text_answer(str(stored.file_id))

    return handler


table.post("/filestore/DataFile", "filestore.upload")(_upload(FileKind.DATA_FILE))
table.post("/filestore/DataMiningConfig", "filestore.upload_datamining")(
    _upload(FileKind.DATA_MAPPING_CONFIG)
)
table.post("/filestore/template", "filestore.upload_template")(_upload(FileKind.TEMPLATE))
table.post("/filestore/JobCreationConfig", "filestore.upload_jobcreation")(
    _upload(FileKind.JOB_CREATION_CONFIG)
)
table.post("/filestore/OutputCreationConfig", "filestore.upload_outputcreation")(
    _upload(FileKind.OUTPUT_CREATION_CONFIG)
)


def managed_file(request: web.Request, param: str = "fileId") -> StoredFile:
    """The file the path names by id or by (percent-decoded) name; 404 otherwise."""
    raw = request.match_info[param]
    stored = sim_of(request).files.find(raw)
    if stored is None:
        raise not_found("managed file", raw)
    return stored


def attachment(name: str) -> str:
    """`Content-Disposition` naming the file; RFC 6266 `filename*` when it is not plain ASCII."""
    if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
        return f'attachment; filename="{name}"'
    fallback = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def send_file(
    request: web.Request, stored: StoredFile, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Stream a managed file as an attachment, honouring the stall and delay controls."""
    sim = sim_of(request)
    response = web.StreamResponse(headers=headers)
    response.content_type = OCTET_STREAM
    response.headers[hdrs.CONTENT_DISPOSITION] = attachment(stored.name)
    response.content_length = stored.size
    compress(request, response, sim)
    await response.prepare(request)
    sent, stalled = 0, False
    async with contextlib.aclosing(sim.files.read(stored)) as chunks:
        async for chunk in chunks:
            data = chunk
            stall = sim.stall
            if stall is not None and not stalled and sent + len(data) > stall.after_bytes:
                head = max(0, stall.after_bytes - sent)
                await response.write(data[:head])
                sent, data, stalled = sent + head, data[head:], True
                await asyncio.sleep(stall.seconds)
            if sim.download_delay > 0:
                await asyncio.sleep(sim.download_delay)
            await response.write(data)
            sent += len(data)
    await response.write_eof()
    return response


def original_filename(name: str) -> str:
    """The `OL-Original-Filename` value: the name as uploaded, percent-encoded (UTF-8) when
    it is not plain printable ASCII, so that it fits a header."""
    if name.isascii() and name.isprintable():
        return name
    return quote(name, safe="")


@table.get("/filestore/file/{fileId}", "filestore.download", head=False)
async def download(request: web.Request) -> web.StreamResponse:
    stored = managed_file(request)
    # The vendor's client reads the uploaded name from this header (FIDELITY B14).
    headers = {"OL-Original-Filename": original_filename(stored.name)}
    return await send_file(request, stored, headers)


@table.add(hdrs.METH_HEAD, "/filestore/file/{fileId}", "filestore.head")
async def head(request: web.Request) -> web.StreamResponse:
    stored = managed_file(request)
    response = web.StreamResponse()
    response.content_type = OCTET_STREAM
    response.content_length = stored.size
    await response.prepare(request)
    await response.write_eof()
    return response


@table.get("/filestore/file/{fileId}/{relPath:.+}", "filestore.download_path")
async def download_path(request: web.Request) -> web.StreamResponse:
    managed_file(request)
    # Managed directories (unzipped templates) are not simulated: every file is a plain file.
    raise not_found("file in managed directory", request.match_info["relPath"])


async def delete(request: web.Request) -> web.StreamResponse:
    """`deleteFileGet` and `deleteFilePost`: the file is gone, `true`. A destructive GET, and
    its HEAD deletes as well (JAX-RS runs the GET for a HEAD)."""
    sim_of(request).files.delete(managed_file(request))
    return true_answer()


table.get("/filestore/delete/{fileId}", "filestore.delete")(delete)
table.post("/filestore/delete/{fileId}", "filestore.delete_post")(delete)
_ENUM = "No enum constant com.objectiflune.serverengine.database.ManagedFileType."


@table.get("/filestore/resources", "filestore.resources")
async def resources(request: web.Request) -> web.StreamResponse:
    """Persistent files of the listed types (comma-separated); an unknown type answers 500
    "No enum constant …ManagedFileType.X" (Java's `valueOf`), as the vendor's client expects."""
    types = [k.strip() for k in request.query.get("type", "").split(",") if k.strip()]
    for name in types:
        if name not in RESOURCE_TYPES:
            raise SimulatorError(HTTPStatus.INTERNAL_SERVER_ERROR, _ENUM + name, name)
    files = sim_of(request).files
    return json_answer(
        [
            {
                "id": f.file_id,
                "name": f.name,
                "path": f"/simulator/filestore/{f.file_id}/{f.name}",
                "type": f.resource_type,
                "size": f.size,
            }
            for f in (files.resources(types) if types else files.resources())
        ]
    )
