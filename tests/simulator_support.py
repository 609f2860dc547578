"""Helpers shared by the simulator tests: an authenticated session, JSON Error checks, RSS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from conftest import basic_auth_header

BASE = "/rest/serverengine"
GOOD_BASIC = basic_auth_header("ol-admin", "secret")
JSON = "application/json"


def open_session(server: TestServer) -> aiohttp.ClientSession:
    """A session on `server` sending the simulator's Basic credentials on every request."""
    return aiohttp.ClientSession(
        base_url=server.make_url(""), headers={"Authorization": GOOD_BASIC}
    )


async def error_of(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The `error` object of a JSON Error answer, after checking its shape and exact label."""
    assert resp.headers["Content-Type"] == JSON
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "message", "parameter"}
    assert body["error"]["status"] == resp.status
    error: dict[str, Any] = body["error"]
    return error


async def json_of(resp: aiohttp.ClientResponse) -> Any:
    """The body of a 200 JSON answer labelled exactly `application/json`."""
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == JSON
    return await resp.json()


def rss_bytes() -> int:
    """This process's resident set size, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")
