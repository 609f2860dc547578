"""Cache tags: which cached reads a write drops (SPEC §8.5), as pure functions of routes.

Every cached read carries the tag of its service (``s:entity/jobs``) and, when
its path names an entity, the entity's tag (``e:jobs:42``). A write drops the
entity's tag, or its service's tag for a bulk write or a delete, plus the
services its `Invalidation.also` names.
"""

from __future__ import annotations

from typing import Final

from aiohttp import hdrs

from gateway.catalogue.model import (
    BASE,
    READ_METHODS,
    READS_BY_WRITE_METHOD,
    Invalidation,
    Reach,
    Route,
    entity_family,
)
from gateway.catalogue.table import IN_JOB_SETS, JOB_SET_STATISTICS

MAX_ID: Final = 2**63 - 1


def entity_id(raw: str) -> int | None:
    """A path's ``{id}`` as an int in 1..2^63-1 (ASCII digits only), else None."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 19:
        value = int(raw)
        if 1 <= value <= MAX_ID:
            return value
    return None


def service_tag(service: str) -> str:
    return f"s:{service}"


def entity_tag(family: str, entity: int) -> str:
    return f"e:{family}:{entity}"


def read_tags(route: Route, entity: int | None) -> tuple[str, ...]:
    """The tags a cached read of ``route`` (for entity ``entity``) is stored under."""
    return ReadTags(route)(entity)


class ReadTags:
    """`read_tags` for one route, its constant part built once.

    Every stored entry holds its tags: one shared service-tag string per route
    instead of a new one per read keeps that small (and a hit does less).
    """

    __slots__ = ("_family", "_service", "_service_only")

    def __init__(self, route: Route) -> None:
        self._family = route.family
        self._service = service_tag(route.service)
        self._service_only = (self._service,)

    def __call__(self, entity: int | None) -> tuple[str, ...]:
        if self._family is not None and entity is not None:
            return (self._service, entity_tag(self._family, entity))
        return self._service_only


def write_tags(
    service: str, family: str | None, invalidation: Invalidation, raw_id: str | None
) -> tuple[str, ...]:
    """The tags a successful write drops.

    An entity write whose id is not a valid entity id drops the whole family:
    dropping too much costs a reload, dropping too little serves an old answer.
    """
    entity = entity_id(raw_id) if raw_id is not None else None
    if invalidation.reach is Reach.ENTITY and family is not None and entity is not None:
        first = entity_tag(family, entity)
    else:
        first = service_tag(service)
    return (first, *(service_tag(other) for other in invalidation.also))


def unlisted_invalidation(service: str, method: str, path: str) -> Invalidation | None:
    """What a write the catalogue does not list invalidates, from its path alone.

    Any non-read under ``entity/<family>`` invalidates: the entity when the path
    names one (``…/jobs/42/…``), else (a bulk write, a delete) the whole family.
    """
    family = entity_family(service)
    if family is None or method in READ_METHODS or (method, path) in READS_BY_WRITE_METHOD:
        return None
    also = JOB_SET_STATISTICS if family in IN_JOB_SETS else ()
    rest = path.removeprefix(f"{BASE}/{service}").strip("/").split("/")
    names_entity = entity_id(rest[0]) is not None
    if names_entity and method != hdrs.METH_DELETE and rest[-1] != "delete":
        return Invalidation(Reach.ENTITY, also)
    return Invalidation(Reach.FAMILY, also)


def unlisted_id(service: str, path: str) -> str | None:
    """The first path segment after the service base: the entity an unlisted write names."""
    rest = path.removeprefix(f"{BASE}/{service}").strip("/")
    return rest.partition("/")[0] or None
