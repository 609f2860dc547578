"""Forwarded routes with an owner rule (catalogue `Route.owner`, SPEC §10.4, §11).

Before anything is forwarded, the operation or file the path names must
belong to the caller's group (else 404). Some answers are read, never
streamed, because the gateway learns from them: an upload's file id, a
`getManagedResult`'s file id, a progress value; `getOperations` is filtered
to the caller's group. Routes the catalogue does not list are guarded by
their path segments (`UnlistedForwarder`).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Final

from aiohttp import hdrs, web
from multidict import CIMultiDict

from gateway.catalogue import Owner, Route
from gateway.engines.forward import Forwarder
from gateway.engines.forward_headers import AnswerHeaders
from gateway.engines.invalidation import Invalidate
from gateway.engines.waiting import requested_wait, waited_progress
from gateway.errors import UpstreamError
from gateway.operations.records import DONE, OperationRecord, progress_value
from gateway.state import CONFIG, FACTS, METRICS, OPERATION_RECORD, OWNERS
from gateway.upstream.bodies import is_json_type, loads
from gateway.upstream.wire import Answer

_OPERATION_RULES: Final = frozenset({Owner.OPERATION, Owner.PROGRESS, Owner.MANAGED_RESULT})
# The rules whose answers the gateway reads; it asks OL Connect not to compress them.
_READ_ANSWERS: Final = frozenset(
    {Owner.PROGRESS, Owner.MANAGED_RESULT, Owner.UPLOAD, Owner.OPERATION_LIST}
)
_PLAIN: Final = "text/plain"


class OwnedForwarder(Forwarder):
    """The handler of a forwarded route with an owner rule.

    Args:
        route: the catalogue route; its ``owner`` names the rule.
        label, answer_headers, invalidate: as for `Forwarder`.
    """

    def __init__(
        self,
        route: Route,
        label: str,
        answer_headers: AnswerHeaders,
        invalidate: Invalidate | None = None,
    ) -> None:
        if route.owner is None:
            raise ValueError(f"{route.template} has no owner rule")
        super().__init__(
            label, answer_headers, invalidate, resend=not route.unsafe, service=route.service
        )
        self.owner = route.owner

    def upstream_headers(self, request: web.Request) -> CIMultiDict[str]:
        headers = super().upstream_headers(request)
        if self.owner in _READ_ANSWERS:
            headers[hdrs.ACCEPT_ENCODING] = "identity"
        return headers

    async def handle(self, request: web.Request) -> web.StreamResponse:
        owners = request.app[OWNERS]
        client = request[FACTS].client
        if self.owner is Owner.FILE:
            await owners.file(client, request.match_info["fileId"])
        elif self.owner in _OPERATION_RULES:
            op_id = request.match_info["operationId"]
            record = await owners.operation(client, op_id)
            if record is not None:
                request[OPERATION_RECORD] = record
            if self.owner is Owner.PROGRESS and request.method == hdrs.METH_GET:
                wait = requested_wait(request.headers.getall("Prefer", ()))
                if wait is not None:
                    return await waited_progress(request, op_id, self.service, record, wait)
        return await super().handle(request)

    async def _relay(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        media_type = answer.content_type.partition(";")[0].strip().lower()
        if not self._reads(request, answer.status, media_type):
            return await super()._relay(request, answer)
        app = request.app
        body = await answer.read(app[CONFIG].cache.max_body)  # decoded, bounded, timed
        headers = self._answer_headers.filter(answer.headers)
        headers.popall(hdrs.CONTENT_ENCODING, None)  # the body is decoded now
        status, body = await self._learn(request, answer.status, media_type, body)
        if status != answer.status:  # the gateway's own answer (SPEC §10.4)
            headers = CIMultiDict({hdrs.CONTENT_TYPE: _PLAIN})
        app[METRICS].count_download(len(body))
        return web.Response(status=status, headers=headers, body=body)

    def _reads(self, request: web.Request, status: int, content_type: str) -> bool:
        if request.method == hdrs.METH_HEAD or self.owner not in _READ_ANSWERS:
            return False
        if self.owner is Owner.PROGRESS:
            return status in (HTTPStatus.OK, HTTPStatus.NOT_FOUND)
        owners = request.app[OWNERS]
        if not owners.enabled:
            return False  # nothing to record or filter
        if self.owner is Owner.OPERATION_LIST:
            client = request[FACTS].client
            return status == HTTPStatus.OK and client is not None and not client.sees_all
        # An id is text or JSON; anything else (a PDF, say) streams through, unread.
        return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES and (
            content_type == _PLAIN or is_json_type(content_type)
        )

    async def _learn(
        self, request: web.Request, status: int, content_type: str, body: bytes
    ) -> tuple[int, bytes]:
        """What the answer teaches; the status and body to send (changed only by §10.4)."""
        owners = request.app[OWNERS]
        client = request[FACTS].client
        group = client.group if client is not None else ""
        match self.owner:
            case Owner.PROGRESS:
                op_id = request.match_info["operationId"]
                known: OperationRecord | None = request.get(OPERATION_RECORD)
                value = progress_value(body) if status == HTTPStatus.OK else None
                if value is not None:
                    # Only a change of an operation the gateway remembers is written.
                    if known is not None and known.history[-1:] != (value,):
                        await owners.advance(op_id, value)
                elif status == HTTPStatus.NOT_FOUND and await owners.seen_done(op_id):
                    return HTTPStatus.OK, DONE.encode()
            case Owner.UPLOAD:
                names = request.query.getall("filename", [])
                await owners.owned_files(group, [*managed_file_ids(body), *names])
            case Owner.MANAGED_RESULT:
                owner: OperationRecord | None = request.get(OPERATION_RECORD)
                await owners.owned_files(owner.group if owner else group, managed_file_ids(body))
            case Owner.OPERATION_LIST:
                return status, await _visible(request, content_type, body)
        return status, body


def managed_file_ids(body: bytes) -> list[str]:
    """The File Store id an answer names: a text id, or JSON ``{identifier, files}``."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            data = loads(text)
        except ValueError:
            return []
        identifier = data.get("identifier") if isinstance(data, dict) else None
        if isinstance(identifier, str | int) and not isinstance(identifier, bool):
            return [str(identifier)]
        return []
    return [text] if text and len(text) <= 256 and not any(c.isspace() for c in text) else []


async def _visible(request: web.Request, content_type: str, body: bytes) -> bytes:
    """A JSON Operations List with only the caller group's operations.

    Fails closed: an answer the gateway cannot filter is a 502, never passed on whole.
    """
    try:
        data: Any = loads(body) if is_json_type(content_type) else None
    except ValueError:
        data = None
    owners = request.app[OWNERS]
    client = request[FACTS].client
    if isinstance(data, list):
        return json.dumps(await owners.visible(client, data)).encode()
    lists = [k for k, v in data.items() if isinstance(v, list)] if isinstance(data, dict) else []
    if lists:  # a wrapped list, should a version send one
        for key in lists:
            data[key] = await owners.visible(client, data[key])
        return json.dumps(data).encode()
    raise UpstreamError("upstream operations list could not be read")


class UnlistedForwarder(Forwarder):
    """The catch-all of a workflow or File Store service: a route the catalogue does not list.

    Which segment is an id is unknown there, so every segment naming another
    group's operation (or file) is refused; ids the gateway never saw pass.
    """

    def __init__(self, *args: Any, files: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._files = files

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        segments = [segment for segment in tail.split("/") if segment]
        await request.app[OWNERS].segments(
            request[FACTS].client, files=self._files, segments=segments
        )
        return await super().handle(request)
