"""The route table of the app: the catalogue's records made into aiohttp routes, in one place.

Each catalogue route gets the handler its policy calls for — a `CachedRead`,
the `ValidatedWrite`, or a `Forwarder` — and every service that forwards
unlisted routes a catch-all after its own. A `Target` per aiohttp route tells
the middlewares its metrics label and the scope it needs, so auth, metrics
and logs read the catalogue, never a copy of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, assert_never

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import AbstractRoute

from gateway.catalogue import (
    BASE,
    LOGIN,
    ROUTES,
    SERVICES,
    Action,
    Route,
    Scope,
    Scopes,
    Service,
    scope_for,
)
from gateway.config.model import Config
from gateway.edge import health, openapi, own_routes
from gateway.edge.operation_events import EVENTS, operation_events
from gateway.engines.cached_read import CachedRead
from gateway.engines.forward import Forwarder, refuse_head, unknown_service
from gateway.engines.forward_headers import AnswerHeaders
from gateway.engines.invalidation import route_invalidation, service_invalidation
from gateway.engines.owned import OwnedForwarder, UnlistedForwarder
from gateway.engines.validated_write import ValidatedWrite

UNMATCHED: Final = "unmatched"
# Methods forwarded on routes the catalogue does not list. TRACE and CONNECT never
# go upstream; OPTIONS is the gateway's own (CORS) or a 405.
FORWARDED_METHODS: Final = (
    hdrs.METH_GET,
    hdrs.METH_HEAD,
    hdrs.METH_POST,
    hdrs.METH_PUT,
    hdrs.METH_DELETE,
    hdrs.METH_PATCH,
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Target:
    """What the middlewares need to know of a matched aiohttp route.

    Args:
        label: the route template for metrics and logs (``<service>/*`` for routes
            of a known service that the catalogue does not list).
        scopes: the scopes it accepts, any one of them; None: public.
        service: set for a service's catch-all: its scopes follow from each
            request's method and path (SPEC §8.3).
    """

    label: str
    scopes: Scopes | None
    service: Service | None = None

    def required(self, method: str, path: str) -> Scopes | None:
        """The scopes this request accepts (any one of them); None: public."""
        if self.service is None:
            return self.scopes
        return scope_for(self.service.base, method, path)


Targets = dict[AbstractRoute, Target]

ADMIN: Final = frozenset({Scope.ADMIN})
RUN: Final = frozenset({Scope.RUN})
METRICS_PATH: Final = "/metrics"
# The gateway's own routes: (method, path, handler, scopes). Health, metrics and the
# OpenAPI document are public; the admin routes need `admin`.
OWN_ROUTES: Final = (
    (hdrs.METH_GET, "/healthz", health.healthz, None),
    (hdrs.METH_GET, "/readyz", health.readyz, None),
    (hdrs.METH_GET, METRICS_PATH, health.metrics, None),
    (hdrs.METH_GET, "/openapi.json", openapi.serve, None),
    (hdrs.METH_DELETE, own_routes.ADMIN_CACHE, own_routes.purge_cache, ADMIN),
    (hdrs.METH_DELETE, own_routes.ADMIN_SEGMENT, own_routes.purge_segment, ADMIN),
    (hdrs.METH_DELETE, own_routes.ADMIN_ENTITY, own_routes.purge_entity, ADMIN),
    (hdrs.METH_DELETE, own_routes.ADMIN_FAMILY_ENTITY, own_routes.purge_entity, ADMIN),
    (hdrs.METH_DELETE, own_routes.ADMIN_FAMILY, own_routes.purge_family, ADMIN),
)


def add_routes(app: web.Application, config: Config) -> Targets:
    """Register every route of the gateway on ``app``; return the `Target` of each."""
    targets: Targets = {}
    router = app.router
    answer_headers = AnswerHeaders(config.upstream.url)

    def add(method: str, path: str, handler: Handler, target: Target) -> None:
        route = router.add_route(method, path, handler)
        targets[route] = target
        if path.startswith(BASE + "/") and not path.endswith(("+}", "*}")):
            # SPEC §10.6: OL Connect (JAX-RS) serves a path with one trailing slash as the
            # path without it: so does the gateway, route and scope included. A template
            # that spans slashes matches it already.
            targets[router.add_route(method, path + "/", handler)] = target

    for method, path, handler, scope in OWN_ROUTES:
        if path == METRICS_PATH and not config.metrics.public:
            scope = ADMIN  # the names of routes and clients are not for everyone
        add(method, path, handler, Target(path, scope))
        if method == hdrs.METH_GET:
            add(hdrs.METH_HEAD, path, handler, Target(path, scope))
    add(hdrs.METH_GET, EVENTS, operation_events, Target(EVENTS, RUN))
    add(hdrs.METH_POST, LOGIN.template, own_routes.login, Target(LOGIN.template, None))
    add(hdrs.METH_ANY, LOGIN.template, own_routes.login_other_method, Target(LOGIN.template, None))
    explicit_heads = {route.template for route in ROUTES if route.method == hdrs.METH_HEAD}
    for route in ROUTES:
        if route.action is Action.OWN:
            continue
        label = _label(route.template)
        serve = _handler(route, label, config, answer_headers)
        target = Target(label, route.scopes)
        add(route.method, route.template, serve, target)
        if route.unsafe:
            # SPEC §10.2: OL Connect would run the GET for a HEAD. Registered here, a HEAD
            # never falls through to the service's catch-all (which would forward it).
            add(hdrs.METH_HEAD, route.template, refuse_head, Target(label, None))
        elif route.method == hdrs.METH_GET and route.template not in explicit_heads:
            add(hdrs.METH_HEAD, route.template, serve, target)
    for service in SERVICES:
        if service.forwards_unlisted:
            catch_all = Target(f"{service.path}/*", None, service)
            forward = _catch_all(service, catch_all.label, answer_headers).handle
            for method in FORWARDED_METHODS:
                add(method, service.path, forward, catch_all)  # after its handshake
                add(method, service.path + "/{tail:.+}", forward, catch_all)
    for method in FORWARDED_METHODS:
        add(method, BASE + "/{tail:.*}", unknown_service, Target(UNMATCHED, None))
    return targets


def _label(template: str) -> str:
    """The template as aiohttp writes it (``{relPath:.+}`` → ``{relPath}``): the metrics label."""
    return web.DynamicResource(template).canonical if "{" in template else template


def _catch_all(service: Service, label: str, answer_headers: AnswerHeaders) -> Forwarder:
    """The forwarder of a service's unlisted routes; owned ids are guarded on workflow and
    File Store services, which deal in operations and files (SPEC §11.1)."""
    invalidate = service_invalidation(service)
    top = service.base.partition("/")[0]
    if top in ("workflow", "converter", "filestore"):
        return UnlistedForwarder(
            label, answer_headers, invalidate, service=service.base, files=top == "filestore"
        )
    return Forwarder(label, answer_headers, invalidate, service=service.base)


def _handler(route: Route, label: str, config: Config, answer_headers: AnswerHeaders) -> Handler:
    """The engine that executes the action the catalogue names for ``route``."""
    match route.action:
        case Action.CACHED_READ:
            assert route.cache is not None  # noqa: S101 - Route checks it
            ttl = getattr(config.cache.ttl, route.cache.ttl.value)
            service_info = float(config.cache.ttl.service_info)
            return CachedRead(route, label, float(ttl), service_info).handle
        case Action.VALIDATED_WRITE:
            return ValidatedWrite(route, label).handle
        case Action.FORWARD:
            invalidate = route_invalidation(route)
            if route.owner is not None:
                return OwnedForwarder(route, label, answer_headers, invalidate).handle
            return Forwarder(
                label, answer_headers, invalidate, resend=not route.unsafe, service=route.service
            ).handle
        case Action.OWN:
            raise ValueError(f"{route.template} is served by the gateway's own handler")
        case _:
            assert_never(route.action)


def labels(targets: Iterable[Target]) -> set[str]:
    """Every label the targets can produce (tests: bounded metric labels)."""
    return {target.label for target in targets}
