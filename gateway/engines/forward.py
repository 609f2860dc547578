"""The one generic forwarder: every catalogue route that is not a cached read goes through here.

The request goes upstream on the same path and query string, byte for byte,
with its method, body and end-to-end headers; the answer comes back with its
status, end-to-end headers and body — 4xx and 5xx too. Bodies stream both
ways in chunks: memory stays flat whatever their size. A write that the
catalogue says invalidates cached reads drops them before its answer is sent.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus

from aiohttp import hdrs, web
from multidict import CIMultiDict

from gateway.catalogue.paths import request_path
from gateway.engines.forward_headers import AnswerHeaders, request_headers
from gateway.engines.invalidation import Invalidate
from gateway.errors import MethodNotAllowed, NotFound, UpstreamError, UpstreamTimeout
from gateway.state import BODIES, CONFIG, FACTS, METRICS, OWNERS, UPSTREAM, WARNINGS
from gateway.upstream.bodies import content_length, read_body
from gateway.upstream.wire import Answer


class Forwarder:
    """The handler of one forwarded route.

    Args:
        label: the route's metrics label (its template, or ``<service>/*``).
        answer_headers: filters and rewrites answer headers for `upstream.url`.
        invalidate: for writes the catalogue marks: drops the cached reads they change.
        resend: False for a GET that changes state (SPEC §10.2): never sent twice.
        service: the route's service (``workflow/datamining``): an operation a 202
            answer starts belongs to it and to the caller's group (SPEC §11.1).
    """

    def __init__(
        self,
        label: str,
        answer_headers: AnswerHeaders,
        invalidate: Invalidate | None = None,
        *,
        resend: bool = True,
        service: str = "",
    ) -> None:
        self.label = label
        self.service = service
        self._answer_headers = answer_headers
        self._invalidate = invalidate
        self._resend = resend

    def upstream_headers(self, request: web.Request) -> CIMultiDict[str]:
        """The headers sent upstream (subclasses that read answers ask for identity)."""
        return request_headers(request.headers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # SECURITY: exactly the path the route and its scope were decided on (SPEC §10.6);
        # an ambiguous one (…/jobs/..;/..;/filestore/delete/1) was refused before.
        target = request_path(request).target
        app = request.app
        metrics = app[METRICS]
        body = await read_body(
            request,
            max_body=app[CONFIG].server.max_body,
            budget=app[BODIES],
            count=metrics.count_upload,
        )
        invalidated = False
        started = time.perf_counter()
        try:
            async with app[UPSTREAM].open(
                request.method,
                target,  # the client's path (its trailing slash dropped) and query as sent
                route=self.label,
                headers=self.upstream_headers(request),
                body=body,
                share=request[FACTS].share(),
                resend=self._resend,
            ) as answer:
                if body is not None:
                    body.release()  # sent: no longer held for a retry
                request[FACTS].upstream_seconds = time.perf_counter() - started
                if answer.status == HTTPStatus.ACCEPTED and "operationId" in answer.headers:
                    # Recorded before the client learns the id: its next call finds the owner.
                    await app[OWNERS].started(
                        request[FACTS].client, answer.headers["operationId"], self.service
                    )
                if self._invalidate is not None:
                    invalidated = True
                    await self._invalidate(request, answer.status)
                return await self._relay(request, answer)
        except (UpstreamError, UpstreamTimeout):
            # No answer: the write may have landed all the same.
            if self._invalidate is not None and not invalidated:
                await self._invalidate(request, None)
            raise
        finally:
            if body is not None:
                body.release()

    async def _relay(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        """Send the answer's head, then its body chunk by chunk as it arrives.

        Each next chunk must come within upstream.timeout (the answer times it);
        each must reach the client within server.client_timeout.
        """
        app = request.app
        client_timeout = app[CONFIG].server.client_timeout
        count = app[METRICS].count_download
        response = web.StreamResponse(
            status=answer.status,
            reason=answer.reason,
            headers=self._answer_headers.filter(answer.headers),
        )
        length = content_length(answer.headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        facts = request[FACTS]
        facts.bytes_out = 0  # the access line's bytes_out: what reached the client
        if request.method == hdrs.METH_HEAD:
            return response
        while True:
            try:
                chunk = await answer.next_chunk()
            except (UpstreamError, UpstreamTimeout):
                return _cut(request, response)  # the upstream's fault, reported by the answer
            if not chunk:
                break
            count(len(chunk))
            try:
                async with asyncio.timeout(client_timeout):
                    await response.write(chunk)
            except (TimeoutError, ConnectionError) as exc:
                error = type(exc).__name__
                app[WARNINGS].warning("client_body_failed", error, path=request.path, error=error)
                return _cut(request, response)
            facts.bytes_out += len(chunk)
        await response.write_eof()
        return response


def _cut(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The head is out, the body cannot finish: cut the connection so the client sees it."""
    response.force_close()
    if request.transport is not None:
        request.transport.close()
    return response


async def refuse_head(request: web.Request) -> web.StreamResponse:
    """HEAD on a GET that changes state (SPEC §10.2): OL Connect, a JAX-RS server, answers
    HEAD by running the GET (`HEAD filestore/delete/7` deletes), so it never goes upstream."""
    raise MethodNotAllowed(
        "HEAD would run this GET, which changes state in OL Connect",
        parameter=request.method,
        headers={hdrs.ALLOW: hdrs.METH_GET},
    )


async def unknown_service(request: web.Request) -> web.StreamResponse:
    """A path under /rest/serverengine whose service the catalogue does not know: 404."""
    raise NotFound("no such OL Connect service or route", parameter=request.path[:128])
