"""The simulator's aiohttp application: assembles the route tables, middlewares and lifecycle."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from gateway.simulator.http import (
    controls,
    entity_routes,
    file_routes,
    operation_routes,
    production_routes,
    record_routes,
    render_routes,
    resource_routes,
    services,
    start_routes,
)
from gateway.simulator.http.answers import BASE_PATH_KEY
from gateway.simulator.http.middlewares import RELEASE_KEY, answer_headers, json_errors, simulate
from gateway.simulator.http.routing import ROUTE_NAMES_KEY, SIMULATOR_KEY, register
from gateway.simulator.model.state import Simulator

__all__ = ["SERVER_OPTIONS", "SIMULATOR_KEY", "create_simulator_app"]

# Keyword arguments for the simulator's runner: like OL Connect's servlet container, it
# takes a request body as it comes (a gzip upload is stored gzipped, never inflated).
SERVER_OPTIONS: Final[dict[str, Any]] = {"auto_decompress": False}


def create_simulator_app(
    sim: Simulator, *, expose_controls: bool = False, prefix: str = ""
) -> web.Application:
    """Build the aiohttp application that serves `sim`.

    Args:
        sim: the state to serve; `app[SIMULATOR_KEY]` is this object. Its spool files are
            deleted when the application shuts down.
        expose_controls: also serve the `/_sim/*` control routes (tests only, never the demo).
        prefix: serve everything under this path (``/olconnect``), as an OL Connect behind
            a reverse proxy is: its Links and redirects name the prefix too.
    """
    app = web.Application(middlewares=[json_errors])
    app[SIMULATOR_KEY] = sim
    app[RELEASE_KEY] = asyncio.Event()
    # Handshakes and versions first: `<family>/version` must never be read as an id; each
    # workflow service's fixed paths (getResult/…, pdfpreview/…, html/…, email/…) come
    # before the templates they would match (`contentcreation/{templateId}/{dataSetId}`).
    register(
        app,
        [
            services.table,
            entity_routes.table,
            record_routes.table,
            file_routes.table,
            resource_routes.table,
            operation_routes.table,
            render_routes.table,
            start_routes.table,
            production_routes.table,
        ],
    )
    app.middlewares.append(simulate(sim, app[ROUTE_NAMES_KEY]))
    app.on_response_prepare.append(answer_headers(sim))
    app.on_shutdown.append(_release_hanging)
    app.on_cleanup.append(_delete_spool)
    if expose_controls:
        controls.add_routes(app.router, sim)
    if not prefix:
        return app
    app[BASE_PATH_KEY] = prefix
    outer = web.Application()
    outer[SIMULATOR_KEY] = sim
    outer.add_subapp(prefix, app)
    return outer


async def _release_hanging(app: web.Application) -> None:
    app[RELEASE_KEY].set()


async def _delete_spool(app: web.Application) -> None:
    app[SIMULATOR_KEY].files.clear()
