"""The framework's ceiling: a bare aiohttp handler that returns constant bytes.

Run as its own process by the harness: ``python -m bench.targets.bare --port N --body-file F``.
It picks its event loop exactly as ``gateway.cli.serve`` does (uvloop when installed),
so the comparison is aiohttp against aiohttp on the same loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from aiohttp import web


def loop_kind() -> str:
    """The event loop this interpreter gives servers: ``uvloop x.y`` or ``asyncio``."""
    try:
        from importlib.metadata import version

        import uvloop  # noqa: F401 - present and importable, as the gateway needs it
    except ImportError:
        return "asyncio"
    return f"uvloop {version('uvloop')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    body = Path(args.body_file).read_bytes()
    content_type = args.content_type

    async def constant(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/{tail:.*}", constant)
    with contextlib.suppress(ImportError):  # the same choice gateway.cli.startup makes
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
