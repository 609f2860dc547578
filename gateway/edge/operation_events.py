"""`GET /operations/{operationId}/events`: an operation's progress as Server-Sent Events (§11.3).

One ``progress`` event per change, then one ``done`` event whose data names
the operation's result routes, and the stream ends. An operation OL Connect
forgot before the gateway saw it finish ends with a ``gone`` event (the
upstream's status). Events carry ids (their position), so a client that
reconnects with ``Last-Event-ID`` gets only what it missed. A comment line
every `KEEP_ALIVE` seconds keeps idle proxies from closing the stream.

Browsers: `EventSource` cannot send the API key header; read the stream with
`fetch()` instead (docs/api.md shows both).
"""

from __future__ import annotations

import asyncio
import json
from typing import Final
from urllib.parse import quote

from aiohttp import hdrs, web

from gateway.catalogue import BASE, ROUTES, Kind
from gateway.errors import NotFound
from gateway.operations.owners import NO_OPERATION
from gateway.operations.records import DONE
from gateway.state import CONFIG, FACTS, OWNERS, WATCHERS

EVENTS: Final = "/operations/{operationId}/events"
KEEP_ALIVE: Final = 15.0
_LAST_EVENT_ID: Final = "Last-Event-ID"


def result_links(service: str, op_id: str) -> dict[str, str]:
    """The result routes of ``service`` for this operation: ``{"getResult": "/rest/…", …}``."""
    quoted = quote(op_id, safe="")
    links = {}
    for route in ROUTES:
        if route.service == service and route.kind is Kind.RESULT:
            verb = route.template.rsplit("/", 2)[-2]
            links[verb] = f"{BASE}/{service}/{verb}/{quoted}"
    return links


def event(name: str, data: str, number: int) -> bytes:
    """One Server-Sent Event (``data`` holds no line break: values and compact JSON)."""
    return f"id: {number}\nevent: {name}\ndata: {data}\n\n".encode()


async def operation_events(request: web.Request) -> web.StreamResponse:
    """Stream an operation's progress until it is done (scope ``run``, owner rule applies)."""
    op_id = request.match_info["operationId"]
    record = await request.app[OWNERS].operation(request[FACTS].client, op_id)
    if record is None:  # its service is unknown: it was not started through the gateway
        raise NotFound(NO_OPERATION, parameter=op_id[:128])
    sent = _last_event_id(request)
    response = web.StreamResponse(
        headers={
            hdrs.CONTENT_TYPE: "text/event-stream",
            hdrs.CACHE_CONTROL: "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass events on at once
        }
    )
    await response.prepare(request)
    write_timeout = request.app[CONFIG].server.client_timeout
    loop = asyncio.get_running_loop()

    async def send(data: bytes) -> None:
        async with asyncio.timeout(write_timeout):  # a client that stopped reading goes
            await response.write(data)

    async with request.app[WATCHERS].watching(op_id, record.service, record) as watch:
        while True:
            while sent < len(watch.history):
                value = watch.history[sent]
                sent += 1
                if value == DONE:
                    links = json.dumps(result_links(record.service, op_id), separators=(",", ":"))
                    await send(event("done", links, sent))
                    await response.write_eof()
                    return response
                await send(event("progress", value, sent))
            if watch.gone is not None:
                status = json.dumps({"status": watch.gone.status})
                await send(event("gone", status, sent + 1))
                await response.write_eof()
                return response
            if not await watch.next_change(loop.time() + KEEP_ALIVE):
                await send(b": keep-alive\n\n")


def _last_event_id(request: web.Request) -> int:
    """Events the client already has (its ``Last-Event-ID``), else 0."""
    raw = request.headers.get(_LAST_EVENT_ID, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
