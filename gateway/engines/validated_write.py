"""The validated write: SPEC §5's job-segment metadata PUT, checked before it goes upstream.

Other writes pass through as they are (`gateway.engines.forward`); this one keeps the
contract it had before the catalogue: a body that is not JSON, whose ``id``
differs from the path's, or that is not a Name/Value list is a 400; over 1 MiB
a 413; neither reaches OL Connect. The answer is mapped as in §5.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import hdrs, web

from gateway.catalogue import Route
from gateway.catalogue.tags import write_tags
from gateway.engines.cached_read import is_name_values, path_entity, refuse_encoded_body
from gateway.errors import BadRequest, NotFound, UpstreamError
from gateway.state import BODIES, CACHE, FACTS, UPSTREAM
from gateway.upstream.bodies import KEEP_LIMIT, loads, read_body
from gateway.upstream.events import INVALID_ANSWER

MAX_BODY: Final = KEEP_LIMIT  # SPEC §5: PUT bodies over 1 MiB are refused with 413
_JSON: Final = "application/json"


class ValidatedWrite:
    """The handler of the validated job-segment metadata PUT.

    Args:
        route: its catalogue entry (``route.validated``, ``route.invalidates`` set).
        label: its metrics label.
    """

    def __init__(self, route: Route, label: str) -> None:
        if route.invalidates is None:
            raise ValueError(f"{route.template} invalidates nothing")
        self.route = route
        self.label = label
        self._invalidation = route.invalidates

    async def handle(self, request: web.Request) -> web.Response:
        segment = path_entity(request, "job segment")
        refuse_encoded_body(request)  # it reads the body: never an inflated one
        # Over MAX_BODY (a Content-Length, or a chunked body growing past it): 413; a
        # body at most that large is always kept whole.
        held = await read_body(request, max_body=MAX_BODY, budget=request.app[BODIES])
        try:
            body = b"" if held is None else held.kept or b""
            return await self._write(request, segment, body)
        finally:
            if held is not None:
                held.release()

    async def _write(self, request: web.Request, segment: int, body: bytes) -> web.Response:
        try:
            document = loads(body.decode())  # strict UTF-8, as RFC 8259 requires
        except ValueError:  # UnicodeDecodeError and nesting too deep included
            raise BadRequest("body is not valid JSON") from None
        body_id = document.get("id") if isinstance(document, dict) else None
        if isinstance(body_id, bool) or body_id != segment:
            raise BadRequest("body id must equal the job segment id in the path", parameter="id")
        if not is_name_values(document.get("properties")):
            raise BadRequest(
                "properties must be a list of {name, value} strings", parameter="properties"
            )
        app = request.app
        path = self.route.template.replace("{id}", str(segment))
        try:
            response = await app[UPSTREAM].request(
                hdrs.METH_PUT,
                path,
                route=self.label,
                body=body,
                headers={hdrs.CONTENT_TYPE: _JSON},
                max_body=MAX_BODY,
                share=request[FACTS].share(),
            )
        finally:
            # The write may have landed even when its answer was lost: drop the entity's
            # reads either way, before answering, so the writer reads its own write.
            tags = write_tags(
                self.route.service, self.route.family, self._invalidation, str(segment)
            )
            await app[CACHE].invalidate_tags(*tags)
        request[FACTS].upstream_seconds = response.seconds
        if response.status == HTTPStatus.NOT_FOUND:
            raise NotFound("job segment not found", parameter=str(segment))
        if response.status == HTTPStatus.BAD_REQUEST:
            raise BadRequest("OL Connect rejected the request")
        if response.status != HTTPStatus.OK or response.body.strip() != b"true":
            # OL Connect acknowledges a write with `true`; any other answer (a maintenance
            # page, a cut-off body) is no acknowledgement, so the client must not get one.
            app[UPSTREAM].events.failure(self.label, INVALID_ANSWER, status=response.status)
            raise UpstreamError("upstream sent an invalid answer")
        return web.Response(body=response.body, headers={hdrs.CONTENT_TYPE: response.content_type})
