"""The workflow services' operation routes: the 202 that starts one (`started`), polling,
results, cancelling. The routes that start operations are in `start_routes`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web

from gateway.simulator.http.answers import JSON_TYPE, base_url, json_answer, text_answer
from gateway.simulator.http.file_routes import send_file
from gateway.simulator.http.routing import BASE, RouteTable, sim_of
from gateway.simulator.model.errors import SimulatorError, not_found
from gateway.simulator.model.operations import Operation, OperationType, Result, Work
from gateway.simulator.model.state import ManagedResult

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


def started(
    request: web.Request, prefix: str, work: Work, details: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Register an operation of service `prefix` and answer 202 with its id and Links.

    The Link URLs are absolute, built from the scheme, host and port this request was
    addressed to (and the path the server is served under), as OL Connect builds them.
    `details` are extra keys of its entry in `getOperations` (the `template` of content
    creation).
    """
    base, kind = _BASES[prefix]
    operation = sim_of(request).operations.start(base, kind, work, details=details)
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


async def _finished(request: web.Request, base: str) -> Result:
    operation = _operation(request, base)
    ops = sim_of(request).operations
    if not ops.done(operation):
        raise SimulatorError(HTTPStatus.CONFLICT, "operation has not finished", operation.op_id)
    return await ops.finish(operation)


def managed_answer(request: web.Request, done: Result) -> web.StreamResponse:
    """`getManagedResult`: the output's Managed File ID as JSON `{identifier, files}` (what
    the vendor's client reads from 2024.2 servers) or as text (the 2020.2-2023.2 reference),
    per `Simulator.managed_result` (FIDELITY B7); a result without a file answers its text."""
    if done.file is None:
        return text_answer(done.text, done.headers)
    if sim_of(request).managed_result is ManagedResult.TEXT:
        return text_answer(str(done.file.file_id), done.headers)
    body = {"identifier": done.file.file_id, "files": [done.file.name]}
    return text_answer(json.dumps(body, separators=(",", ":")), done.headers, JSON_TYPE)


def _polling(prefix: str, base: str) -> None:
    async def operations(request: web.Request) -> web.StreamResponse:
        return json_answer(sim_of(request).operations.running(base))

    async def progress(request: web.Request) -> web.StreamResponse:
        operation = _operation(request, base)
        answer = await sim_of(request).operations.poll(operation)
        if answer is None:
            # OL Connect forgets an operation once `done` was answered (FIDELITY B9).
            raise not_found("operation", operation.op_id)
        return text_answer(answer)

    async def result(request: web.Request) -> web.StreamResponse:
        done = await _finished(request, base)
        if done.file is not None:
            return await send_file(request, done.file, done.headers)
        return text_answer(done.text, done.headers, done.content_type)

    async def result_txt(request: web.Request) -> web.StreamResponse:
        done = await _finished(request, base)
        return text_answer(done.text, done.headers)

    async def managed_result(request: web.Request) -> web.StreamResponse:
        return managed_answer(request, await _finished(request, base))

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
