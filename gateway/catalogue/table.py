"""The builder of the catalogue table: services, cache policies, and one method per action.

A route enters the table through the method that names how it is served
(`Table.cached`, `validated`, `forward`, `own`); the builder fills in what
follows from the service: the full template, the scope, the entity family,
and the job-set statistics that a write in the job-set hierarchy changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aiohttp import hdrs

from gateway.catalogue.model import (
    BASE,
    TTL,
    Action,
    CachePolicy,
    Invalidation,
    Kind,
    Owner,
    Reach,
    Route,
    Shape,
    entity_family,
    scope_for,
)

GET, PUT, POST, HEAD = hdrs.METH_GET, hdrs.METH_PUT, hdrs.METH_POST, hdrs.METH_HEAD


@dataclass(frozen=True, slots=True)
class Service:
    """One OL Connect service.

    Args:
        base: its path under `/rest/serverengine`, e.g. ``entity/jobs``.
        name: OL Connect's internal name, as its handshake says it.
        forwards_unlisted: requests for routes the catalogue does not list are still
            forwarded (a newer OL Connect may add some). Not for ``entity``, whose path
            is the parent of the entity services, nor for ``authentication``.
    """

    base: str
    name: str
    forwards_unlisted: bool = True

    @property
    def path(self) -> str:
        return f"{BASE}/{self.base}"


SERVICE_INFO: Final = CachePolicy(TTL.SERVICE_INFO, Shape.TEXT)
CHILDREN: Final = CachePolicy(TTL.CHILDREN, Shape.IDENTIFIERS)
CHILD_OBJECTS: Final = CachePolicy(TTL.CHILDREN, Shape.JSON)
PROPERTIES: Final = CachePolicy(TTL.PROPERTIES, Shape.JSON)
STATISTICS: Final = CachePolicy(TTL.STATISTICS, Shape.JSON)
ALL_SETS: Final = CachePolicy(TTL.ALL_SETS, Shape.ALL_SETS)

STATISTICS_SERVICE: Final = "statistics"
# Writes anywhere in the job-set hierarchy change what the job-set statistics report.
JOB_SET_STATISTICS: Final = (STATISTICS_SERVICE,)
IN_JOB_SETS: Final = frozenset({"jobsets", "jobs", "jobsegments", "documentsets", "documents"})


class Table:
    """Collects the routes of one service, each added by the method that names its action.

    `cached`, `validated`, `forward` and `own` fill in what follows from the service
    (full template, scope, entity family, the job-set statistics a write changes).
    """

    def __init__(self, service: Service, *, get_all: str | None = None, info: bool = True) -> None:
        self.service = service
        self.routes: list[Route] = []
        # info=False: a service OL Connect documents without handshake and version (rasterize).
        self.info = info
        if not info:
            return
        if get_all is None:
            self.cached(GET, "", Kind.HANDSHAKE, "Service handshake", SERVICE_INFO)
        else:
            # SPEC §10.1: a set service's root is "get all", a read that operations change.
            self.cached(GET, "", Kind.READ, f"Every {get_all} (JSON Identifier List)", ALL_SETS)

    def cached(
        self, method: str, rel: str, kind: Kind, summary: str, policy: CachePolicy, **extra: Any
    ) -> Table:
        """A read answered from the cache under ``policy``."""
        return self._add(Action.CACHED_READ, method, rel, kind, summary, cache=policy, **extra)

    def validated(self, method: str, rel: str, kind: Kind, summary: str, **extra: Any) -> Table:
        """A write whose body the gateway checks before it is sent (SPEC §5)."""
        return self._add(Action.VALIDATED_WRITE, method, rel, kind, summary, **extra)

    def forward(self, method: str, rel: str, kind: Kind, summary: str, **extra: Any) -> Table:
        """A route streamed to OL Connect and back as it is."""
        return self._add(Action.FORWARD, method, rel, kind, summary, **extra)

    def own(self, method: str, rel: str, kind: Kind, summary: str) -> Table:
        """A route the gateway answers itself (the login), never forwarded."""
        return self._add(Action.OWN, method, rel, kind, summary)

    def _add(
        self,
        action: Action,
        method: str,
        rel: str,
        kind: Kind,
        summary: str,
        *,
        cache: CachePolicy | None = None,
        invalidates: Reach | None = None,
        also: tuple[str, ...] = (),
        lists: tuple[str, ...] = (),
        family: str | None = None,
        owner: Owner | None = None,
        unsafe: bool = False,
    ) -> Table:
        base = self.service.base
        template = f"{BASE}/{base}{rel}"
        family = family or entity_family(base)
        if invalidates is not None and family in IN_JOB_SETS:
            also = (*also, *JOB_SET_STATISTICS)
        if lists and invalidates is None:
            invalidates = Reach.NONE
        self.routes.append(
            Route(
                service=base,
                method=method,
                template=template,
                kind=kind,
                action=action,
                scopes=None if kind is Kind.LOGIN else scope_for(base, method, template),
                summary=summary,
                cache=cache,
                invalidates=None if invalidates is None else Invalidation(invalidates, also, lists),
                family=family,
                owner=owner,
                unsafe=unsafe,
            )
        )
        return self

    def version(self) -> list[Route]:
        """Close the table with the service's version route; return every route."""
        if self.info:
            self.cached(GET, "/version", Kind.VERSION, "Service version", SERVICE_INFO)
        return self.routes


def operations(
    table: Table,
    *,
    text_result: bool = False,
    managed: bool = False,
    creates: tuple[str, ...] = (),
) -> Table:
    """The polling, result and cancel routes every workflow service shares.

    ``creates``: the set families its operations make; their get-all lists are
    dropped when a result passes through (SPEC §10.1). Each route names the owner
    rule it follows (SPEC §11.1): the operation's group only.
    """
    op = Owner.OPERATION
    table.forward(
        GET, "/getOperations", Kind.POLL, "List running operations", owner=Owner.OPERATION_LIST
    )
    table.forward(
        GET,
        "/getProgress/{operationId}",
        Kind.POLL,
        "Progress: 0..100, then done (Prefer: wait=N)",
        owner=Owner.PROGRESS,
    )
    result = "/getResult/{operationId}"
    table.forward(
        POST, result, Kind.RESULT, "Result of a finished operation", lists=creates, owner=op
    )
    if text_result:
        text = "/getResultTxt/{operationId}"
        table.forward(POST, text, Kind.RESULT, "Result as text", lists=creates, owner=op)
    if managed:
        table.forward(
            POST,
            "/getManagedResult/{operationId}",
            Kind.RESULT,
            "Result as a File Store id",
            lists=creates,
            owner=Owner.MANAGED_RESULT,
        )
    return table.forward(
        POST, "/cancel/{operationId}", Kind.CANCEL, "Cancel an operation", owner=op
    )


def metadata(table: Table, name: str) -> Table:
    table.cached(GET, "/{id}/metadata", Kind.READ, f"Metadata of a {name}", PROPERTIES)
    return table.forward(
        PUT, "/{id}/metadata", Kind.WRITE, f"Update metadata of a {name}", invalidates=Reach.ENTITY
    )


def properties(table: Table, name: str) -> Table:
    table.cached(GET, "/{id}/properties", Kind.READ, f"Properties of a {name}", PROPERTIES)
    return table.forward(
        PUT,
        "/{id}/properties",
        Kind.WRITE,
        f"Update properties of a {name}",
        invalidates=Reach.ENTITY,
    )
