"""Cached reads: every catalogue route with a cache policy is served by one `CachedRead`.

The key is the method, the canonical path and the exact query string (plus
``Accept`` where the upstream negotiates on it); the entity id in the path is
checked first (400, no upstream call) and written canonically, so ``0042`` and
``42`` are one entry. Only answers of the promised shape are stored; others
are a 502 that stale-if-error may stand in for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

from aiohttp import hdrs, web

from gateway.cache import Fetched, cache_headers
from gateway.catalogue import Route, Shape
from gateway.catalogue.paths import request_path
from gateway.catalogue.tags import ReadTags, entity_id
from gateway.errors import BadRequest, UnsupportedMediaType, UpstreamError, error_body
from gateway.state import CACHE, CONFIG, FACTS, UPSTREAM
from gateway.upstream.bodies import is_json_type, loads
from gateway.upstream.events import INVALID_ANSWER

_JSON: Final = "application/json"
_NO_CACHE: Final = re.compile(r"(^|[\s,])no-cache($|[\s,=])", re.IGNORECASE)
# What a missing entity is called in the 404 the gateway answers (and negative-caches).
NOUNS: Final = {
    "jobsegments": "job segment",
    "jobs": "job",
    "jobsets": "job set",
    "documentsets": "document set",
    "documents": "document",
    "contentsets": "content set",
    "contentitems": "content item",
    "datasets": "data set",
    "datarecords": "data record",
}


def path_entity(request: web.Request, noun: str) -> int:
    """The path's ``{id}`` as an entity id, else 400 before any upstream call."""
    raw = request.match_info["id"]
    entity = entity_id(raw)
    if entity is None:
        raise BadRequest(f"{noun} id must be a decimal integer in 1..2^63-1", parameter=raw[:64])
    return entity


def refuse_encoded_body(request: web.Request) -> None:
    """415 for a request body under a `Content-Encoding` other than identity, on a route
    that reads its body (or has none): the gateway never inflates one (issue 23 F2)."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING)
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise UnsupportedMediaType(
            "request bodies here must not be compressed", parameter=hdrs.CONTENT_ENCODING
        )


def is_identifiers(data: Any) -> bool:
    """A JSON Identifier List of numbers: ``{"identifiers": [1, 2]}``."""
    identifiers = data.get("identifiers") if isinstance(data, dict) else None
    return isinstance(identifiers, list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in identifiers
    )


def is_name_values(data: Any) -> bool:
    """A Name/Value list (properties only): ``[{"name": "k", "value": "v"}]``."""
    return isinstance(data, list) and all(
        isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("value"), str)
        for p in data
    )


_JSON_CHECKS: Final[dict[Shape, Callable[[Any], bool]]] = {
    Shape.IDENTIFIERS: is_identifiers,
    Shape.ALL_SETS: is_identifiers,
    Shape.NAME_VALUES: is_name_values,
    Shape.JSON: lambda _data: True,
}


def storable(shape: Shape, content_type: str, body: bytes) -> bool | None:
    """Whether a 200 answer has the route's shape: True store it, False refuse it (a
    502), None store it as service info (a set service's root answering its handshake)."""
    if shape is Shape.TEXT:
        return True
    if not is_json_type(content_type):
        return None if shape is Shape.ALL_SETS else False
    try:
        return _JSON_CHECKS[shape](loads(body))
    except ValueError:  # not JSON, or nested too deeply for the parser
        return False


class CachedRead:
    """The handler of one cacheable read.

    Args:
        route: its catalogue entry (``route.cache`` is set).
        label: its metrics label.
        ttl: fresh lifetime of a stored 200 answer, from `cache.ttl`.
        service_info_ttl: `cache.ttl.service_info`, for a set service's root that
            answers its handshake text rather than its get-all list.
    """

    def __init__(
        self, route: Route, label: str, ttl: float, service_info_ttl: float | None = None
    ) -> None:
        if route.cache is None:
            raise ValueError(f"{route.template} is not cacheable")
        self.route = route
        self.label = label
        self._policy = route.cache
        self._ttl = ttl
        self._service_info_ttl = ttl if service_info_ttl is None else service_info_ttl
        self._by_id = "{id}" in route.template
        self._noun = NOUNS.get(route.family or "", "entity")
        self._tags = ReadTags(route)

    async def handle(self, request: web.Request) -> web.Response:
        refuse_encoded_body(request)  # a read has no body: an encoded one is a client's error
        entity: int | None = None
        path = self.route.template
        if self._by_id:
            entity = path_entity(request, self._noun)
            # Canonical: "0042" and "42" are one entry, and one id upstream too.
            path = path.replace("{id}", str(entity))
        query = request_path(request).query
        if query is not None:
            path += "?" + query  # the query string byte for byte: it is part of the key
        key = "GET " + path
        app = request.app
        facts = request[FACTS]
        share = facts.share()
        max_body = app[CONFIG].cache.max_body

        async def load() -> Fetched:
            upstream = app[UPSTREAM]
            response = await upstream.request(
                hdrs.METH_GET, path, route=self.label, max_body=max_body, share=share
            )
            facts.upstream_seconds = response.seconds
            try:
                return self._fetched(response.status, response.content_type, response.body, entity)
            except UpstreamError:
                upstream.events.failure(self.label, INVALID_ANSWER, status=response.status)
                raise

        cache_control = request.headers.get(hdrs.CACHE_CONTROL)
        bypass = cache_control is not None and _NO_CACHE.search(cache_control) is not None
        result = await app[CACHE].get(
            key, ttl=self._ttl, load=load, bypass=bypass, tags=self._tags(entity)
        )
        facts.cache_outcome = result.outcome
        answer_headers = cache_headers(result)
        answer_headers[hdrs.CONTENT_TYPE] = result.content_type
        return web.Response(status=result.status, body=result.body, headers=answer_headers)

    def _fetched(self, status: int, content_type: str, body: bytes, entity: int | None) -> Fetched:
        """Map an upstream answer to what the cache may store: a well-formed 200, our 404,
        or a client error passed on unstored."""
        if status == HTTPStatus.NOT_FOUND:
            parameter = str(entity) if entity is not None else ""
            return Fetched(
                HTTPStatus.NOT_FOUND, _JSON, error_body(404, f"{self._noun} not found", parameter)
            )
        if status == HTTPStatus.OK:
            verdict = storable(self._policy.shape, content_type, body)
            if verdict is None:
                return Fetched(status, content_type, body, ttl=self._service_info_ttl)
            if verdict:
                return Fetched(status, content_type, body)
            # Garbage is never cached; stale-if-error may stand in.
            raise UpstreamError("upstream sent an invalid answer")
        if HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR:
            return Fetched(status, content_type, body, store=False)  # the client's mistake
        raise UpstreamError("upstream sent an unexpected answer")
