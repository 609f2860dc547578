"""Paths, fuzzed (SPEC §10.6): whatever the gateway forwards names the service its scope was
decided on, read the most lenient way a servlet container reads a path.

Hypothesis builds paths from the pieces of every known trick (dot segments in each
spelling, `;` parameters, encoded and doubly encoded slashes and backslashes, `%u`,
overlong UTF-8) and sends them on raw sockets to a live gateway, each with a key that
holds one scope. A recording upstream on loopback keeps what arrives. Whenever
something arrives, decoded as leniently as any servlet container would (path parameters
cut, `%u` and `%XX` decoded until nothing changes, overlong UTF-8 accepted, `\\` a
separator), it must have no dot or empty segment, be the path the gateway routed, and
lie where the key's scope reaches.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from typing import Final
from urllib.parse import unquote_to_bytes

import hypothesis
import pytest
from aiohttp import web
from conftest import client_entries
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.catalogue import SERVICES, Scope, scope_for
from gateway.catalogue.paths import PathRefused, parse
from gateway.config.model import Config, key_digest
from gateway.edge.runner_options import runner_options

BASE: Final = "/rest/serverengine"
LOGIN: Final = f"{BASE}/authentication/login"
SCOPE_KEYS: Final = {scope: f"olcg_prop_{scope}_key_0123456789" for scope in Scope}
# Longest first: the service a path names is the longest base it starts with.
BASES: Final = sorted((service.base for service in SERVICES), key=len, reverse=True)

PIECES: Final = (
    *("..", ".", "%2e", "%2E", "%252e", "%25252e", "%u002e", "%U002E", "%c0%ae", "%e0%80%ae"),
    *(";", "%3b", "%3B", ";x=1", "%2f", "%2F", "%252f", "%5c", "%5C", "%255c", "\\", "%u002f"),
    *("%c0%af", "%00", "%20", "%ff", "%", "%u", "%41", "~", "+", "%2b", "%c3%a4", ":"),
    *("filestore", "delete", "7", "workflow", "datamining", "entity", "jobs", "jobsegments"),
    *("metadata", "version", "x", "5"),
)
PREFIXES: Final = (
    "entity/jobs",
    "entity/jobsegments",
    "entity",
    "statistics/jobset",
    "filestore",
    "workflow/datamining",
    "converter",
)
BENIGN: Final = ("5", "7", "x", "metadata", "version", "delete", "a%20b", "%C3%A4", "~x", "%41")
# Half of the segments are plain, so that many paths pass and something reaches the upstream.
segments = st.one_of(
    st.sampled_from(BENIGN), st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join)
)
tails = st.lists(segments, min_size=1, max_size=4).map("/".join)
# (method, the one scope of the key it is sent with)
CALLS: Final = (
    ("GET", Scope.READ),
    ("PUT", Scope.WRITE),
    ("POST", Scope.RUN),
    ("GET", Scope.FILES),
)


def _lenient_utf8(data: bytes) -> str:
    """UTF-8 as a lenient decoder reads it: overlong forms give their character."""
    out: list[str] = []
    i = 0
    while i < len(data):
        byte = data[i]
        if byte in (0xC0, 0xC1) and i + 1 < len(data):
            out.append(chr(((byte & 0x1F) << 6) | (data[i + 1] & 0x3F)))
            i += 2
        elif byte == 0xE0 and i + 2 < len(data) and data[i + 1] < 0xA0:
            out.append(chr(((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)))
            i += 3
        else:
            width = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            out.append(data[i : i + width].decode("utf-8", errors="replace"))
            i += width
    return "".join(out)


def servlet_decode(raw_path: str) -> list[str]:
    """The segments of a path as the most lenient servlet container would read them."""
    path = "/".join(segment.split(";", 1)[0] for segment in raw_path.split("/"))
    previous = None
    while previous != path:
        previous = path
        path = re.sub(r"%[uU]([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), path)
        path = _lenient_utf8(unquote_to_bytes(path))
    return path.replace("\\", "/").split("/")[1:]


def service_of(segments: list[str]) -> str | None:
    """The catalogue service a decoded path names, if any."""
    if segments[:2] != ["rest", "serverengine"]:
        return None
    rest = "/".join(segments[2:])
    return next((base for base in BASES if rest == base or rest.startswith(base + "/")), None)


class Recorder:
    """A stand-in for OL Connect on loopback: logs anyone in, records every other request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        if request.raw_path == LOGIN:
            return web.Response(text="upstream-token")
        self.seen.append((request.method, request.raw_path))
        return web.json_response({"identifiers": []})


class LiveServers:
    """The recorder and a gateway in front of it, served by a thread's own event loop."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    def __enter__(self) -> LiveServers:
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError("the live servers did not start")
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        upstream = web.Application()
        upstream.router.add_route("*", "/{tail:.*}", self.recorder.handle)
        runners = [web.AppRunner(upstream, access_log=None)]
        await runners[0].setup()
        await web.TCPSite(runners[0], "127.0.0.1", 0).start()
        clients = client_entries() + [
            {"name": f"only-{scope}", "key_sha256": key_digest(key), "scopes": [scope.value]}
            for scope, key in SCOPE_KEYS.items()
        ]
        config = Config.model_validate(
            {
                "upstream": {
                    "url": f"http://127.0.0.1:{runners[0].addresses[0][1]}",
                    "username": "u",
                    "password": "p",
                },
                "clients": clients,
                "logging": {"level": "warning"},
            }
        )
        gateway = web.AppRunner(
            create_app(config), access_log=None, **runner_options(config.server)
        )
        runners.append(gateway)
        await gateway.setup()
        await web.TCPSite(gateway, "127.0.0.1", 0).start()
        self.port = gateway.addresses[0][1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for runner in reversed(runners):
                await runner.cleanup()

    def send(self, method: str, target: str, key: str) -> int:
        """One request on a fresh connection; its status."""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: gateway\r\nX-API-Key: {key}\r\n"
            "Cache-Control: no-cache\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(head.encode("latin-1"))
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return int(answer.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServers]:
    with LiveServers() as servers:
        yield servers


@hypothesis.settings(
    max_examples=400,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run; a failure reproduces
    suppress_health_check=list(HealthCheck),
)
@given(prefix=st.sampled_from(PREFIXES), tail=tails, call=st.sampled_from(CALLS))
def test_paths_forwarded_path_names_the_service_its_scope_was_decided_on(
    live: LiveServers, prefix: str, tail: str, call: tuple[str, Scope]
) -> None:
    """Whatever reaches the upstream decodes, leniently, to the routed path: no dot segment,
    the same service, and a route the key's one scope may call."""
    method, scope = call
    target = f"{BASE}/{prefix}/{tail}"
    before = len(live.recorder.seen)
    status = live.send(method, target, SCOPE_KEYS[scope])
    assert status < 500 or status in (502, 504), status
    arrived = live.recorder.seen[before:]
    assert len(arrived) <= 1, arrived  # never sent twice
    if not arrived:
        return
    seen_method, seen_target = arrived[0]
    assert seen_method == method
    seen = servlet_decode(seen_target.partition("?")[0])
    assert all(segment.strip(". ") for segment in seen), seen_target  # no dot, no empty
    try:
        routed = parse(target).decoded
    except PathRefused:
        raise AssertionError(f"a refused path was forwarded: {target}") from None
    assert "/" + "/".join(seen) == routed, (seen_target, routed)
    service = service_of(seen)
    assert service is not None, seen_target
    assert scope in scope_for(service, method, routed), (seen_target, scope)
