"""What the gateway knows about one OL Connect route: a frozen record, no behaviour of its own.

A `Route` says what a route is (service, method, path template, kind), who may
call it (scope), whether and how its answer is cached, and what a successful
call invalidates. The engine (`gateway.edge.routing`, `gateway.engines.forward`,
`gateway.engines.cached_read`) executes every record the same way; special behaviour is a
field here, never a new code path per route.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs

BASE: Final = "/rest/serverengine"
READ_METHODS: Final = frozenset({hdrs.METH_GET, hdrs.METH_HEAD})


class Kind(enum.StrEnum):
    """What a route does, in the words of OLCONNECT-API.md §1."""

    HANDSHAKE = "handshake"
    VERSION = "version"
    LOGIN = "login"
    READ = "read"  # no side effect; GET, or a read carried by PUT/POST
    WRITE = "write"  # changes an entity
    DELETE = "delete"  # removes an entity (or a file)
    OPERATION = "operation"  # starts a long-running operation: 202 + operationId + Link
    POLL = "poll"  # progress or the operation list
    RESULT = "result"
    CANCEL = "cancel"
    SYNC = "sync"  # renders in one request
    UPLOAD = "upload"  # the request body is a file
    DOWNLOAD = "download"  # the answer body is a file


class Action(enum.StrEnum):
    """How the gateway serves a route: exactly one per route, stated in the table."""

    CACHED_READ = "cached_read"  # from the cache, or fetched and stored: engines/cached_read
    # The §5 job-segment write: body checked (JSON, `id` equals the path's, Name/Value
    # list, at most 1 MiB) before it is sent, answer mapped as in §5: engines/validated_write
    VALIDATED_WRITE = "validated_write"
    FORWARD = "forward"  # streamed both ways as it is: engines/forward
    OWN = "own"  # answered by the gateway itself, never forwarded (the login)


class Scope(enum.StrEnum):
    """The client scopes of SPEC §8.3 (and §5)."""

    READ = "read"
    WRITE = "write"
    RUN = "run"
    FILES = "files"
    ADMIN = "admin"


# The scopes a route accepts: any one of them will do (a handshake: `read` or its service's).
Scopes = frozenset[Scope]


def scope_names(scopes: Scopes) -> str:
    """``read,run``: the accepted scopes in a fixed order, for errors and documents."""
    return ",".join(scope.value for scope in Scope if scope in scopes)


class TTL(enum.StrEnum):
    """Which `cache.ttl.*` key sets a cached answer's freshness."""

    DOCUMENT_SETS = "document_sets"
    METADATA = "metadata"
    CHILDREN = "children"
    PROPERTIES = "properties"
    SERVICE_INFO = "service_info"
    STATISTICS = "statistics"
    ALL_SETS = "all_sets"  # the get-all lists of job, data and content sets (SPEC §10.1)


class Shape(enum.StrEnum):
    """What a 200 answer must look like to be stored; anything else is a 502, never stored."""

    IDENTIFIERS = "identifiers"  # {"identifiers": [int, ...]} as application/json
    NAME_VALUES = "name_values"  # [{"name": str, "value": str}, ...] as application/json
    JSON = "json"  # any JSON document labelled application/json (or +json)
    TEXT = "text"  # any body: handshakes and versions
    # A set service's root GET (`entity/jobsets`): "get all", a JSON Identifier List, stored
    # under its policy's TTL; a text answer (a server that answers it as the handshake, as
    # the vendor's reference also lists it) is stored as service info.
    ALL_SETS = "all_sets"


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How a cacheable read is cached.

    Args:
        ttl: the `cache.ttl.*` key of its freshness.
        shape: what a storable answer looks like.

    No cached read is negotiated on `Accept` (only File Store template reports
    are, and File Store answers are never cached), so `Accept` is not in the key.
    """

    ttl: TTL
    shape: Shape


class Owner(enum.StrEnum):
    """What a route does with the owners of operations and files (SPEC §10.4, §11)."""

    OPERATION = "operation"  # its {operationId} must belong to the caller's group
    PROGRESS = "progress"  # OPERATION; remembers progress (§10.4) and honours Prefer: wait
    MANAGED_RESULT = "managed_result"  # OPERATION; the file id it answers joins that group
    OPERATION_LIST = "operation_list"  # getOperations: only the caller group's operations
    FILE = "file"  # its {fileId} must belong to the caller's group
    UPLOAD = "upload"  # the file id it answers (an upload's, a preview's) is the caller group's


# The path parameter an owner rule reads.
OWNER_PARAMETER: Final = {
    Owner.OPERATION: "operationId",
    Owner.PROGRESS: "operationId",
    Owner.MANAGED_RESULT: "operationId",
    Owner.FILE: "fileId",
}


class Reach(enum.StrEnum):
    """How far a successful write's invalidation reaches."""

    ENTITY = "entity"  # every cached read of the entity named by the path's {id}
    FAMILY = "family"  # every cached read of the route's entity family
    NONE = "none"  # nothing of its own service (an operation's result: see `lists`)


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What a successful call drops from the cache, before its answer is sent.

    Args:
        reach: the written entity, its whole family, or nothing of its own service.
        also: further services dropped whole (the job-set statistics for writes in
            the job-set hierarchy, record lists for added records).
        lists: set families whose get-all list is dropped (an operation's result:
            the set it made is now in that list, SPEC §10.1).
    """

    reach: Reach
    also: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """One OL Connect route as the gateway serves it.

    Args:
        service: the service base under `/rest/serverengine`, e.g. ``entity/jobs``.
        method: the HTTP method (GET routes answer HEAD too).
        template: the full path template in aiohttp syntax; ``{x:.+}`` spans slashes.
        kind: what the route does (OLCONNECT-API.md's words; OpenAPI shows it).
        action: how the gateway serves it.
        scopes: the client scopes it accepts, any one of them; None for the login
            route, which needs none.
        summary: one line for people (OpenAPI, README).
        cache: how its answer is cached; None: never.
        invalidates: what a successful call drops from the cache; None: nothing.
        family: the entity family its ``{id}`` names (``jobs``), for cache tags and
            invalidation; None outside the entity model.
        owner: what it does with owners of operations and files; None: nothing.
        unsafe: a GET that changes state in OL Connect (SPEC §10.2): JAX-RS answers HEAD
            by running the GET, so HEAD is a 405 and never forwarded; never cached, never
            sent twice after a broken connection, never a read.

    A path parameter named ``id`` is an entity id: on cached reads it must be a
    decimal integer in 1..2^63-1 (else 400, no upstream call), and it names the
    entity a write invalidates.
    """

    service: str
    method: str
    template: str
    kind: Kind
    action: Action
    scopes: Scopes | None
    summary: str
    cache: CachePolicy | None = None
    invalidates: Invalidation | None = None
    family: str | None = None
    owner: Owner | None = None
    unsafe: bool = False

    def __post_init__(self) -> None:
        # The table states each action; a record whose fields contradict it is a bug in the table.
        cached = self.action is Action.CACHED_READ
        if cached != (self.cache is not None) or (cached and self.method != hdrs.METH_GET):
            raise ValueError(f"{self.method} {self.template}: a cached read is a GET with a policy")
        if self.action is Action.VALIDATED_WRITE and self.invalidates is None:
            raise ValueError(f"{self.method} {self.template}: a validated write invalidates")
        if (self.action is Action.OWN) != (self.kind is Kind.LOGIN):
            raise ValueError(f"{self.method} {self.template}: only the login is the gateway's own")
        if self.owner is not None and self.action is not Action.FORWARD:
            raise ValueError(f"{self.method} {self.template}: owners apply to forwarded routes")
        parameter = OWNER_PARAMETER.get(self.owner) if self.owner is not None else None
        if parameter is not None and "{" + parameter not in self.template:
            raise ValueError(f"{self.method} {self.template}: {self.owner} needs {{{parameter}}}")
        forwarded_get = self.method == hdrs.METH_GET and self.action is Action.FORWARD
        if self.unsafe and (not forwarded_get or self.kind is Kind.READ):
            raise ValueError(f"{self.method} {self.template}: an unsafe route is a forwarded GET")


def entity_family(service: str) -> str | None:
    """``entity/jobs`` → ``jobs``; services outside ``entity/<family>`` have none."""
    top, _, family = service.partition("/")
    return family if top == "entity" and family else None


# Reads carried by other methods (SPEC §8.3): they need `read`, not `write`.
READS_BY_WRITE_METHOD: Final = frozenset(
    {
        (hdrs.METH_PUT, f"{BASE}/entity/find"),
        (hdrs.METH_POST, f"{BASE}/entity/datarecords/values"),
    }
)


def _service_scope(service: str, method: str, path: str) -> Scope:
    top = service.partition("/")[0]
    if top in ("entity", "statistics"):
        if method in READ_METHODS or (method, path) in READS_BY_WRITE_METHOD:
            return Scope.READ
        return Scope.WRITE
    if top in ("workflow", "converter"):
        return Scope.RUN
    if top == "filestore":
        return Scope.FILES
    return Scope.READ  # authentication: handshake and version only (login is the gateway's)


def scope_for(service: str, method: str, path: str) -> Scopes:
    """The scopes a request accepts, from its service, method and path (SPEC §8.3).

    Used for the catalogue's own entries and for routes a newer OL Connect adds
    that the catalogue does not list. A service's handshake and version take
    `read` or the scope of the service itself (issue 19 item 5): a client calls
    them first, and a `run`-only client must be able to.
    """
    own = _service_scope(service, method, path)
    base = f"{BASE}/{service}"
    if method in READ_METHODS and path in (base, base + "/version"):
        return frozenset({Scope.READ, own})  # entity services: read alone
    return frozenset({own})
