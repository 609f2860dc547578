"""What a successful write drops from the cache, executed from the catalogue's data.

The catalogue states, per route, what a write invalidates (`Route.invalidates`)
and, for routes it does not list, `catalogue.tags.unlisted_invalidation`
derives it from the service, method and path. These turn that data into the
callback the forwarder runs before a write's answer is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.catalogue import Route, Service
from gateway.catalogue.model import entity_family
from gateway.catalogue.paths import request_path
from gateway.catalogue.tags import unlisted_id, unlisted_invalidation, write_tags
from gateway.state import CACHE

# Called with the request and, when the upstream answered, its status (None: no
# answer, so a write may have landed): drops what the write invalidates.
Invalidate = Callable[[web.Request, int | None], Awaitable[None]]


def _landed(status: int | None) -> bool:
    """A write may have changed OL Connect: it succeeded, or no answer says it did not."""
    return status is None or 200 <= status < 300


def route_invalidation(route: Route) -> Invalidate | None:
    """The invalidation of a catalogue route, or None when its writes change no cached read."""
    invalidation = route.invalidates
    if invalidation is None:
        return None

    async def invalidate(request: web.Request, status: int | None) -> None:
        if _landed(status):
            raw_id = request.match_info.get("id")
            tags = write_tags(route.service, route.family, invalidation, raw_id)
            await request.app[CACHE].invalidate_tags(*tags)

    return invalidate


def service_invalidation(service: Service) -> Invalidate:
    """The invalidation of the routes of ``service`` that the catalogue does not list."""

    async def invalidate(request: web.Request, status: int | None) -> None:
        if not _landed(status):
            return
        path = request_path(request).decoded
        invalidation = unlisted_invalidation(service.base, request.method, path)
        if invalidation is not None:
            family = entity_family(service.base)
            raw_id = unlisted_id(service.base, path)
            tags = write_tags(service.base, family, invalidation, raw_id)
            await request.app[CACHE].invalidate_tags(*tags)

    return invalidate
