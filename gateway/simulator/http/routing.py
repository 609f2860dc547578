"""Routes as values: each handler module fills a `RouteTable`; `app.py` registers them all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.simulator.model.state import ROUTES, Simulator

#: Every simulated route sits under this prefix.
BASE = "/rest/serverengine"
SIMULATOR_KEY = web.AppKey("simulator", Simulator)
#: The `ROUTES` name of each registered aiohttp route (HEAD shares its GET's name).
ROUTE_NAMES_KEY = web.AppKey("simulator_route_names", dict[web.AbstractRoute, str])


@dataclass(frozen=True)
class RouteSpec:
    """One route: method, path below `BASE`, handler and its name in `ROUTES`."""

    method: str
    path: str
    handler: Handler
    name: str
    head: bool
    """Also answer HEAD (as a Java server does for every GET)."""


class RouteTable:
    """An ordered list of routes; order matters where a fixed path shadows a template."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def add(
        self, method: str, path: str, name: str, *, head: bool = True
    ) -> Callable[[Handler], Handler]:
        """Decorate a handler to serve `method path` as route `name`."""
        if name not in ROUTES:
            raise ValueError(f"{name}: not in ROUTES")

        def register(handler: Handler) -> Handler:
            self.specs.append(RouteSpec(method, path, handler, name, head))
            return handler

        return register

    def get(self, path: str, name: str, *, head: bool = True) -> Callable[[Handler], Handler]:
        return self.add(hdrs.METH_GET, path, name, head=head)

    def put(self, path: str, name: str) -> Callable[[Handler], Handler]:
        return self.add(hdrs.METH_PUT, path, name)

    def post(self, path: str, name: str) -> Callable[[Handler], Handler]:
        return self.add(hdrs.METH_POST, path, name)


def register(app: web.Application, tables: list[RouteTable]) -> None:
    """Add every route of `tables`, in order, and remember each one's name."""
    names: dict[web.AbstractRoute, str] = {}
    for table in tables:
        for spec in table.specs:
            resource = app.router.add_resource(BASE + spec.path)
            names[resource.add_route(spec.method, spec.handler)] = spec.name
            if spec.method == hdrs.METH_GET and spec.head:
                names[resource.add_route(hdrs.METH_HEAD, spec.handler)] = spec.name
    app[ROUTE_NAMES_KEY] = names


def sim_of(request: web.Request) -> Simulator:
    """The simulator serving this request."""
    return request.app[SIMULATOR_KEY]
