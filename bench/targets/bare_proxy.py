"""The framework's ceiling for a forward: a bare aiohttp pass-through, nothing else.

Run as its own process by the harness: ``python -m bench.targets.bare_proxy --port N
--upstream http://127.0.0.1:P`` with the upstream token and the API key on stdin
(one per line, never on the command line). It does what nginx's pass-through
location does and no more: the same key check, the token added as
``auth_token``, the client's credential and hop-by-hop headers dropped, the
method, path and query string as received, bodies streamed both ways. No logs,
metrics, scopes, timeouts, retries or header rewriting: what it costs is what
aiohttp's server and client cost for a forwarded request, on the same event loop
as the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import hdrs, web

CHUNK = 256 * 1024
# Request headers that never go upstream: hop-by-hop, and the client's credentials.
DROPPED = frozenset(
    h.lower()
    for h in (
        hdrs.CONNECTION,
        hdrs.KEEP_ALIVE,
        hdrs.TRANSFER_ENCODING,
        hdrs.TE,
        hdrs.UPGRADE,
        hdrs.HOST,
        hdrs.AUTHORIZATION,
        "X-API-Key",
        "auth_token",
    )
)
# Answer headers aiohttp sets itself on the way back.
SET_BY_SERVER = frozenset(
    h.lower() for h in (hdrs.CONNECTION, hdrs.TRANSFER_ENCODING, hdrs.CONTENT_LENGTH)
)


def make_app(upstream: str, token: str, key: str) -> web.Application:
    """The pass-through app; its client session lives as long as the app."""
    app = web.Application(client_max_size=1024**3)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            app[session_key] = session
            yield

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-API-Key") != key:
            raise web.HTTPForbidden()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        headers["auth_token"] = token
        body = request.content if request.body_exists else None
        async with app[session_key].request(
            request.method,
            upstream + request.raw_path,
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for name, value in answer.headers.items():
                if name.lower() not in SET_BY_SERVER:
                    response.headers.add(name, value)
            if answer.content_length is not None:
                response.content_length = answer.content_length
            await response.prepare(request)
            async for chunk in answer.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/rest/serverengine/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="http://host:port, no path")
    args = parser.parse_args()
    token, key = (line.strip() for line in sys.stdin.read().splitlines()[:2])
    with contextlib.suppress(ImportError):  # the same choice gateway.cli.startup makes
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = make_app(args.upstream, token, key)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
