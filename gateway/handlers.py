"""Job-segment routes (cached reads, passed-through writes), the login route, admin routes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web

from gateway.auth import read_credential
from gateway.cache import CacheService, Fetched, cache_headers
from gateway.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    UpstreamError,
    error_body,
)
from gateway.keys import AUTHENTICATOR, CACHE, CONFIG, FACTS, UPSTREAM
from gateway.upstream import UpstreamResponse

LOGIN = "/rest/serverengine/authentication/login"
JOBSEGMENTS = "/rest/serverengine/entity/jobsegments"
MAX_BODY = 1024 * 1024  # SPEC: PUT bodies over 1 MiB are refused with 413
_SEGMENT_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only: "١٢٣" is no id
_MAX_SEGMENT_ID = 2**63 - 1
_JSON = "application/json"
_NO_CACHE = re.compile(r"(^|[\s,])no-cache($|[\s,=])", re.IGNORECASE)


def segment_id(request: web.Request) -> int:
    """The path's `{id}` as an int in 1..2^63-1, else 400 before any upstream call."""
    raw = request.match_info["id"]
    if _SEGMENT_ID.fullmatch(raw) and 1 <= (value := int(raw)) <= _MAX_SEGMENT_ID:
        return value
    raise BadRequest("job segment id must be a decimal integer in 1..2^63-1", parameter=raw[:64])


def document_sets_key(segment: int) -> str:
    return f"ds:{segment}"


def metadata_key(segment: int) -> str:
    return f"md:{segment}"


def _is_document_sets(data: Any) -> bool:
    identifiers = data.get("identifiers") if isinstance(data, dict) else None
    return isinstance(identifiers, list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in identifiers
    )


def _is_properties(data: Any) -> bool:
    return isinstance(data, list) and all(
        isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("value"), str)
        for p in data
    )


def _is_json_type(content_type: str) -> bool:
    """application/json or a +json type: a JSON body under another label is not trusted."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == _JSON or media_type.endswith("+json")


def _fetched(response: UpstreamResponse, segment: int, valid: Callable[[Any], bool]) -> Fetched:
    """Map an upstream answer to what the cache may store: a well-formed 200, or our 404."""
    if response.status == HTTPStatus.NOT_FOUND:
        body = error_body(HTTPStatus.NOT_FOUND, "job segment not found", str(segment))
        return Fetched(HTTPStatus.NOT_FOUND, _JSON, body)
    if response.status == HTTPStatus.OK and _is_json_type(response.content_type):
        try:
            well_formed = valid(json.loads(response.body))
        except ValueError:
            well_formed = False
        if well_formed:
            return Fetched(HTTPStatus.OK, response.content_type, response.body)
    # Garbage or an unexpected status is never cached; stale-if-error may stand in.
    raise UpstreamError("upstream sent an invalid answer")


async def _cached(
    request: web.Request,
    segment: int,
    *,
    key: str,
    path: str,
    ttl: float,
    route: str,
    valid: Callable[[Any], bool],
) -> web.Response:
    async def load() -> Fetched:
        response = await request.app[UPSTREAM].request(hdrs.METH_GET, path, route=route)
        request[FACTS].upstream_seconds = response.seconds
        return _fetched(response, segment, valid)

    cache_control = request.headers.get(hdrs.CACHE_CONTROL)
    bypass = cache_control is not None and _NO_CACHE.search(cache_control) is not None
    result = await request.app[CACHE].get(key, ttl=ttl, load=load, bypass=bypass)
    request[FACTS].cache_outcome = result.outcome
    headers = cache_headers(result)
    headers[hdrs.CONTENT_TYPE] = result.content_type
    return web.Response(status=result.status, body=result.body, headers=headers)


async def document_sets(request: web.Request) -> web.Response:
    """GET …/jobsegments/{id}: the Identifier List of its document sets, cached."""
    segment = segment_id(request)
    return await _cached(
        request,
        segment,
        key=document_sets_key(segment),
        path=f"{JOBSEGMENTS}/{segment}",  # canonical: "0042" and "42" are one entry upstream too
        ttl=request.app[CONFIG].cache.ttl.document_sets,
        route="document_sets",
        valid=_is_document_sets,
    )


async def metadata(request: web.Request) -> web.Response:
    """GET …/jobsegments/{id}/metadata: its Name/Value list, cached."""
    segment = segment_id(request)
    return await _cached(
        request,
        segment,
        key=metadata_key(segment),
        path=f"{JOBSEGMENTS}/{segment}/metadata",
        ttl=request.app[CONFIG].cache.ttl.metadata,
        route="metadata",
        valid=_is_properties,
    )


async def update_metadata(request: web.Request) -> web.Response:
    """PUT …/jobsegments/{id}/metadata: validated, passed through, cached metadata dropped."""
    segment = segment_id(request)
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge(parameter=str(MAX_BODY))
    try:
        # client_max_size stops a chunked body at MAX_BODY; the timeout stops a slow one.
        async with asyncio.timeout(request.app[CONFIG].server.client_timeout):
            body = await request.read()
    except TimeoutError:
        raise RequestTimeout(parameter="body") from None
    try:
        document = json.loads(body.decode())  # strict UTF-8, as RFC 8259 requires
    except ValueError:  # UnicodeDecodeError included
        raise BadRequest("body is not valid JSON") from None
    body_id = document.get("id") if isinstance(document, dict) else None
    if isinstance(body_id, bool) or body_id != segment:
        raise BadRequest("body id must equal the job segment id in the path", parameter="id")
    if not _is_properties(document.get("properties")):
        raise BadRequest(
            "properties must be a list of {name, value} strings", parameter="properties"
        )
    try:
        response = await request.app[UPSTREAM].request(
            hdrs.METH_PUT,
            f"{JOBSEGMENTS}/{segment}/metadata",
            route="metadata_put",
            body=body,
            content_type=_JSON,
        )
    finally:
        # The write may have landed even when its answer was lost: drop the entry either way,
        # before answering, so the writer reads its own write.
        await request.app[CACHE].invalidate(metadata_key(segment))
    request[FACTS].upstream_seconds = response.seconds
    if response.status == HTTPStatus.OK and response.body.strip() != b"true":
        # OL Connect acknowledges a write with `true`; any other 200 (a maintenance
        # page, a cut-off body) is no acknowledgement, so the client must not get one.
        raise UpstreamError("upstream sent an invalid answer")
    return _passed_through(response, segment)


async def handshake(request: web.Request) -> web.Response:
    """GET …/jobsegments: the service handshake, passed through."""
    return await _pass_through(request, "handshake")


async def version(request: web.Request) -> web.Response:
    """GET …/jobsegments/version: the service version, passed through."""
    return await _pass_through(request, "version")


async def _pass_through(request: web.Request, route: str) -> web.Response:
    response = await request.app[UPSTREAM].request(hdrs.METH_GET, request.path, route=route)
    request[FACTS].upstream_seconds = response.seconds
    return _passed_through(response, None)


def _passed_through(response: UpstreamResponse, segment: int | None) -> web.Response:
    if response.status == HTTPStatus.NOT_FOUND:
        raise NotFound("job segment not found", parameter=str(segment or ""))
    if response.status == HTTPStatus.BAD_REQUEST:
        raise BadRequest("OL Connect rejected the request")
    if response.status >= HTTPStatus.MULTIPLE_CHOICES:
        raise UpstreamError("upstream sent an unexpected answer")
    return web.Response(
        status=response.status,
        body=response.body,
        headers={hdrs.CONTENT_TYPE: response.content_type},
    )


async def login(request: web.Request) -> web.Response:
    """POST …/authentication/login: Basic ``name:key`` → a gateway session token."""
    authenticator = request.app[AUTHENTICATOR]
    token = authenticator.login(read_credential(request.headers))
    return web.Response(
        text=token,
        content_type="text/plain",
        headers={"Token-Expires-In": str(int(authenticator.sessions.ttl))},
    )


async def purge_cache(request: web.Request) -> web.Response:
    """DELETE /admin/cache: drop every cached entry."""
    await request.app[CACHE].clear()
    return web.Response(status=HTTPStatus.NO_CONTENT)


async def purge_segment(request: web.Request) -> web.Response:
    """DELETE /admin/cache/jobsegments/{id}: drop both entries of one segment."""
    segment = segment_id(request)
    cache: CacheService = request.app[CACHE]
    await cache.invalidate(document_sets_key(segment), metadata_key(segment))
    return web.Response(status=HTTPStatus.NO_CONTENT)
