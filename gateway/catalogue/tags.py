"""Cache tags: which cached reads a write drops (SPEC §8.5), as pure functions of routes.

Every cached read carries the tag of its service (``s:entity/jobs``) and, when
its path names an entity, the entity's tag (``e:jobs:42``); a get-all list of
sets also the tag of that list (``a:jobsets``). A write drops the entity's tag,
or its service's tag for a bulk write or a delete, plus the services its
`Invalidation.also` names and the get-all lists its `Invalidation.lists` names.
"""

from __future__ import annotations

from typing import Final

from aiohttp import hdrs

from gateway.catalogue.model import (
    BASE,
    READ_METHODS,
    READS_BY_WRITE_METHOD,
    TTL,
    Invalidation,
    Reach,
    Route,
    entity_family,
)
from gateway.catalogue.table import IN_JOB_SETS, JOB_SET_STATISTICS

MAX_ID: Final = 2**63 - 1
JOB_SET_STATISTICS_TAGS: Final = tuple(f"s:{service}" for service in JOB_SET_STATISTICS)


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


def all_sets_tag(family: str) -> str:
    """The tag of a set family's get-all list (``GET entity/jobsets``)."""
    return f"a:{family}"


# The set families: each has a get-all list (SPEC §10.1).
SET_FAMILIES: Final = frozenset({"jobsets", "datasets", "contentsets"})


def purge_tags(family: str, entity: int | None) -> tuple[str, ...]:
    """What an operator's purge of one entity (or, with None, a whole family) drops.

    The entity's reads; in the job-set hierarchy the job-set statistics too (the job
    set above a job or document is not known here, so all of them); for a set, the
    get-all list of its family (a deleted set leaves it).
    """
    tags = [service_tag(f"entity/{family}") if entity is None else entity_tag(family, entity)]
    if family in IN_JOB_SETS and (family != "jobsets" or entity is None):
        tags += JOB_SET_STATISTICS_TAGS
    if family in SET_FAMILIES:
        tags.append(all_sets_tag(family))
    return tuple(tags)


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
        self._service_only: tuple[str, ...] = (self._service,)
        if route.cache is not None and route.cache.ttl is TTL.ALL_SETS and route.family:
            self._service_only = (self._service, all_sets_tag(route.family))

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
    lists = tuple(all_sets_tag(family) for family in invalidation.lists)
    also = (*(service_tag(other) for other in invalidation.also), *lists)
    if invalidation.reach is Reach.NONE:
        return also
    if invalidation.reach is Reach.ENTITY and family is not None and entity is not None:
        return (entity_tag(family, entity), *also)
    return (service_tag(service), *also)


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
