"""Hostile input, answered cleanly: oversized and countless headers, traversal, odd methods,
bodies where none belong, slow clients and endless bodies.

The gateway runs with the server's own runner options (`gateway.edge.runner_options`), and
raw sockets send what aiohttp's client would refuse to. Non-ASCII digits and
over-long ids are in test_handlers.py; 405 with Allow for wrong methods too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from conftest import KEYS, FakeClock, MakeConfig
from pytest_aiohttp import AiohttpServer

from gateway.app import create_app
from gateway.edge.runner_options import runner_options
from gateway.simulator import Simulator

SEGMENTS = "/rest/serverengine/entity/jobsegments"
READER = KEYS["reader"]
WRITER = KEYS["writer"]
ADMIN = KEYS["admin"]
CLIENT_TIMEOUT = 0.5  # server.client_timeout in these tests

Serve = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def serve(
    aiohttp_server: AiohttpServer, make_config: MakeConfig, clock: FakeClock, wall_clock: FakeClock
) -> Serve:
    """Serve a gateway with the runner options `serve` uses: `await serve(**config_sections)`."""

    async def start(**sections: Any) -> TestServer:
        sections.setdefault("server", {"client_timeout": CLIENT_TIMEOUT})
        config = make_config(**sections)
        app = create_app(config, clock=clock, wall_clock=wall_clock)
        return await aiohttp_server(app, **runner_options(config.server))

    return start


class Answer:
    """One HTTP/1.1 response read off a raw socket."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def error(self) -> dict[str, Any]:
        """The JSON Error body, checked for shape."""
        assert self.headers["content-type"].startswith("application/json")
        error = json.loads(self.body)["error"]
        assert error["status"] == self.status
        assert isinstance(error["message"], str)
        return dict(error)


async def read_answer(reader: asyncio.StreamReader, *, head: bool = False) -> Answer:
    """Read a status line, headers and a Content-Length body (none for HEAD)."""
    status_line = await reader.readline()
    assert status_line.startswith(b"HTTP/1."), status_line
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", "0"))
    return Answer(int(status_line.split()[1]), headers, await reader.readexactly(length))


async def exchange(
    server: TestServer, raw: bytes, *, head: bool = False, then_closed: bool = False
) -> Answer:
    """Send raw bytes on a fresh connection and read one answer (and, if asked, the EOF)."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(read_answer(reader, head=head), 5)
        if then_closed:
            assert await asyncio.wait_for(reader.read(), 5) == b""
        return answer
    finally:
        writer.close()


def request(
    method: str, path: str, *, key: str | None = READER, extra: str = "", body: bytes = b""
) -> bytes:
    """A raw HTTP/1.1 request; `extra` holds more header lines, each ending in CRLF."""
    auth = f"X-API-Key: {key}\r\n" if key else ""
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    head = f"{method} {path} HTTP/1.1\r\nHost: gateway\r\n{auth}{length}{extra}\r\n"
    return head.encode("latin-1") + body


async def healthy(server: TestServer) -> bool:
    answer = await exchange(server, request("GET", "/healthz", key=None))
    return answer.status == 200


async def test_hostile_header_over_64k_is_400_and_closed(serve: Serve) -> None:
    """One header line of 70 KiB is refused by the parser; the server keeps serving."""
    server = await serve()
    big = request("GET", "/healthz", extra=f"X-Big: {'a' * 70_000}\r\n")
    answer = await exchange(server, big, then_closed=True)
    assert answer.status == 400
    assert b"Traceback" not in answer.body
    assert await healthy(server)


async def test_hostile_thousands_of_headers_are_400(serve: Serve) -> None:
    """5,000 small headers exceed the header count limit: 400, then business as usual."""
    server = await serve()
    extra = "".join(f"X-H{i}: v\r\n" for i in range(5000))
    answer = await exchange(server, request("GET", f"{SEGMENTS}/1", extra=extra), then_closed=True)
    assert answer.status == 400
    assert await healthy(server)


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("GET", f"{SEGMENTS}/..%2f..%2fadmin%2fcache", READER, 400),
        ("GET", f"{SEGMENTS}/1%2fmetadata", READER, 400),  # not the metadata route
        ("GET", f"{SEGMENTS}/%2e%2e", READER, 400),
        ("GET", f"{SEGMENTS}/..", READER, 400),
        ("GET", f"{SEGMENTS}/5%00", READER, 400),
        ("GET", f"{SEGMENTS}/%2e%2e/%2e%2e/authentication/login", READER, 400),
        ("GET", f"{SEGMENTS}/1/../2", READER, 400),
        ("GET", f"{SEGMENTS}//5", READER, 400),
        ("GET", "/%2e%2e/healthz", None, 400),
        ("DELETE", "/admin/cache/jobsegments/..%2f..%2f", ADMIN, 400),  # no purge-all by stealth
        ("DELETE", "/admin/cache/jobsegments/%2e%2e", ADMIN, 400),
        ("DELETE", f"{SEGMENTS}/..%2f..%2f..%2fadmin%2fcache", ADMIN, 400),
        # Forwarded routes: OL Connect would resolve these into another service.
        ("GET", "/rest/serverengine/entity/jobs/..%2f..%2ffilestore%2fdelete%2f1", ADMIN, 400),
        ("GET", "/rest/serverengine/filestore/file/..%2fdelete%2f1", ADMIN, 400),
        ("GET", "/rest/serverengine/filestore/file/%2e%2e", ADMIN, 400),
        ("POST", "/rest/serverengine/workflow/datamining/a%5c..%5cb", ADMIN, 400),
        ("GET", "/rest/serverengine/entity/jobs//5/metadata", ADMIN, 400),
    ],
)
async def test_hostile_traversal_and_encoded_slashes_never_reach_upstream(
    serve: Serve, simulator: Simulator, method: str, path: str, key: str | None, status: int
) -> None:
    """Dot segments, empty segments and encoded slashes are a JSON 400 (SPEC §10.6), before
    routing: no upstream call."""
    server = await serve()
    answer = await exchange(server, request(method, path, key=key))
    assert answer.error()["status"] == status
    assert sum(simulator.calls.values()) == 0


async def test_hostile_query_strings_are_part_of_the_key(
    serve: Serve, simulator: Simulator
) -> None:
    """A query string goes upstream as sent and is part of the cache key (SPEC §8.5)."""
    server = await serve()
    odd = f"{SEGMENTS}/5?id=6&x=%00%ff&__proto__=1"
    first = await exchange(server, request("GET", odd))
    again = await exchange(server, request("GET", odd))
    long = await exchange(server, request("GET", f"{SEGMENTS}/5?{'q=1&' * 500}"))
    plain = await exchange(server, request("GET", f"{SEGMENTS}/5"))
    assert [a.status for a in (first, again, long, plain)] == [200, 200, 200, 200]
    assert first.body == long.body == plain.body
    assert [a.headers["x-cache"] for a in (first, again, long, plain)] == [
        "MISS",
        "HIT",
        "MISS",
        "MISS",
    ]
    assert simulator.calls["document_sets"] == 3


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "MKCOL"])
async def test_hostile_unserved_methods_are_405_with_allow(serve: Serve, method: str) -> None:
    """Methods never forwarded (TRACE, WebDAV) are a JSON 405 naming the allowed ones."""
    server = await serve()
    answer = await exchange(server, request(method, f"{SEGMENTS}/5"))
    assert answer.error()["status"] == 405
    assert "GET" in answer.headers["allow"]


async def test_hostile_invented_method_is_400_and_closed(serve: Serve) -> None:
    """A method token HTTP does not know is refused by the parser; the server keeps serving."""
    server = await serve()
    answer = await exchange(server, request("FOO", f"{SEGMENTS}/5"), then_closed=True)
    assert answer.status == 400
    assert await healthy(server)


async def test_hostile_head_answers_headers_without_body(
    serve: Serve, simulator: Simulator
) -> None:
    """HEAD on a cached route is authorised like GET and answers its headers, no body."""
    server = await serve()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request("HEAD", f"{SEGMENTS}/5") + request("GET", f"{SEGMENTS}/5"))
        head = await asyncio.wait_for(read_answer(reader, head=True), 5)
        get = await asyncio.wait_for(read_answer(reader), 5)  # the stream stayed in step
    finally:
        writer.close()
    assert (head.status, head.body) == (200, b"")
    assert head.headers["x-cache"] == "MISS"
    assert (get.status, get.headers["x-cache"]) == (200, "HIT")
    unauthorised = await exchange(server, request("HEAD", f"{SEGMENTS}/5", key=None), head=True)
    assert unauthorised.status == 401


async def test_hostile_options_is_a_clean_405(serve: Serve) -> None:
    """OPTIONS (no CORS here) is a JSON 405 with Allow, on routes and on public paths."""
    server = await serve()
    for path in (f"{SEGMENTS}/5/metadata", "/healthz", "*"):
        answer = await exchange(server, request("OPTIONS", path))
        if path == "*":
            assert answer.status in (400, 404)
            continue
        answer.error()
        assert answer.status == 405
        assert "GET" in answer.headers["allow"]


async def test_hostile_body_on_get_is_ignored_and_not_smuggled(
    serve: Serve, simulator: Simulator
) -> None:
    """A GET body is read past, not parsed as the next request on the connection."""
    server = await serve()
    smuggled = request("DELETE", "/admin/cache", key=ADMIN)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request("GET", f"{SEGMENTS}/5", body=smuggled) + request("GET", "/healthz"))
        first = await asyncio.wait_for(read_answer(reader), 5)
        second = await asyncio.wait_for(read_answer(reader), 5)
    finally:
        writer.close()
    assert (first.status, second.status) == (200, 200)
    assert json.loads(second.body) == {"status": "ok"}
    # The entry survived: the DELETE inside the body never ran.
    assert (await exchange(server, request("GET", f"{SEGMENTS}/5"))).headers["x-cache"] == "HIT"


async def test_hostile_slow_headers_time_out_and_free_the_slot(serve: Serve) -> None:
    """A client sending its head a byte at a time is cut off after server.client_timeout."""
    server = await serve()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    started = time.monotonic()
    closed_after: float | None = None
    try:
        for byte in request("GET", "/healthz") * 100:  # far longer than the timeout at this pace
            writer.write(bytes([byte]))
            await writer.drain()
            if reader.at_eof() or writer.is_closing():
                break
            # Others are served meanwhile: the slow client holds no shared slot.
            if time.monotonic() - started < CLIENT_TIMEOUT / 2:
                assert await healthy(server)
            try:
                data = await asyncio.wait_for(reader.read(1), 0.05)
            except TimeoutError:
                continue
            assert data == b""  # closed without an answer
            closed_after = time.monotonic() - started
            break
    except ConnectionError:
        closed_after = time.monotonic() - started
    finally:
        writer.close()
    assert closed_after is not None, "the slow client was never cut off"
    assert CLIENT_TIMEOUT * 0.9 <= closed_after < CLIENT_TIMEOUT + 2


async def test_hostile_slow_body_is_408(serve: Serve, simulator: Simulator) -> None:
    """A PUT whose body trickles in slower than server.client_timeout is a JSON 408."""
    server = await serve()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = request("PUT", f"{SEGMENTS}/5/metadata", key=WRITER, extra="Content-Length: 100\r\n")
    started = time.monotonic()
    try:
        writer.write(head)
        await writer.drain()

        async def trickle() -> None:
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)

        trickling = asyncio.create_task(trickle())
        try:
            answer = await asyncio.wait_for(read_answer(reader), 5)
        finally:
            trickling.cancel()
            await asyncio.gather(trickling, return_exceptions=True)
    finally:
        writer.close()
    assert answer.error()["status"] == 408
    assert time.monotonic() - started < CLIENT_TIMEOUT + 2
    assert simulator.calls["metadata_put"] == 0


async def test_hostile_endless_chunked_put_is_413_before_it_ends(
    serve: Serve, simulator: Simulator
) -> None:
    """An endless chunked body gets its 413 after about 1 MiB: it is never read whole."""
    server = await serve()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = request(
        "PUT", f"{SEGMENTS}/5/metadata", key=WRITER, extra="Transfer-Encoding: chunked\r\n"
    )
    chunk = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"  # 64 KiB per chunk, never a last chunk
    sent = 0

    async def flood() -> None:
        nonlocal sent
        writer.write(head + b"1\r\n{\r\n")
        while sent < 256 * 1024 * 1024:  # a ceiling, so a broken gateway fails, not hangs
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)

    flooding = asyncio.create_task(flood())
    try:
        answer = await asyncio.wait_for(read_answer(reader), 20)
    finally:
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)
        writer.close()
    assert answer.error()["status"] == 413
    # The answer came while the body was still streaming, long before the ceiling.
    assert sent < 64 * 1024 * 1024
    assert simulator.calls["metadata_put"] == 0


@pytest.mark.parametrize(
    "target",
    [
        "http://evil.example/rest/serverengine/filestore/resources",
        "http://evil.example:9340/rest/serverengine/entity/jobsegments/5?x=%41",
    ],
)
async def test_hostile_absolute_form_target_goes_upstream_as_a_path(
    serve: Serve, simulator: Simulator, target: str
) -> None:
    """An absolute URL in the request line (RFC 9112 §3.2.2) is served by its path and query;
    its host never becomes where the gateway sends its token."""
    server = await serve()
    answer = await exchange(server, request("GET", target, key=ADMIN))
    assert answer.status == 200
    seen = [s for s in simulator.last_request.values() if "evil" not in s.raw_path]
    assert seen
    path = target.removeprefix("http://evil.example").removeprefix(":9340")
    assert path.partition("?")[0] in {s.raw_path.partition("?")[0] for s in seen}
    assert not [s for s in simulator.last_request.values() if "evil" in s.raw_path]
