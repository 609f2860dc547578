"""Request bodies are never decompressed by the gateway (issue 23 F2).

A `Content-Encoding: gzip` body is forwarded as it came, byte for byte and still labelled,
or refused with 415 where the gateway must read the body (the validated write) or where
there should be none (cached reads); nothing is ever inflated, before authentication
or after. The bombs go to a real `serve` process, whose resident memory is watched.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import KEYS
from processes import (  # *_fixture: imported so pytest finds them in this module
    StartGateway,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
)
from test_hostile import Serve, serve  # noqa: F401 - serve: a fixture

from gateway.simulator import Simulator

B = "/rest/serverengine"
FILES = {"X-API-Key": KEYS["admin"]}
GZIP = {"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"}
BOMB_MIB = 4096  # inflates to 4 GiB
RSS_GROWTH_LIMIT = 32 * 1024 * 1024


def gzip_bomb(mib: int) -> bytes:
    """About 1 KiB of gzip per MiB of zeros: full-flushed blocks repeat byte for byte, so the
    bomb is built without compressing GiBs (no trailer: nothing here may read that far)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mib - 1)


def peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=io.BytesIO(body), headers=headers) as answer,
    ):
        return answer.status, await answer.text()


async def test_request_bodies_gzip_bomb_is_never_inflated(start_gateway: StartGateway) -> None:
    """4 MiB of gzip that would inflate to 4 GiB: without a key a 401, with one it reaches
    OL Connect as the same 4 MiB; the gateway's peak memory stays put either way."""
    gateway = await start_gateway(logging={"level": "info"})
    pid = gateway.child.process.pid
    bomb = gzip_bomb(BOMB_MIB)
    upload = f"{gateway.url}{B}/filestore/DataFile?filename=bomb.gz"
    status, _ = await post(f"{gateway.url}{B}/filestore", b"", FILES)  # warm: token, pools
    baseline = peak_rss(pid)
    status, _ = await post(upload, bomb, GZIP)
    assert status == 401
    status, file_id = await post(upload, bomb, {**GZIP, **FILES})
    assert status == 200, file_id
    assert peak_rss(pid) - baseline < RSS_GROWTH_LIMIT
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(f"{gateway.url}{B}/filestore/file/{file_id}", headers=FILES) as answer,
    ):
        assert answer.status == 200
        assert await answer.read() == bomb  # stored as sent: never inflated on the way


async def test_request_bodies_gzip_upload_arrives_byte_identical(
    serve: Serve,  # noqa: F811 - the fixture imported above
    simulator: Simulator,
) -> None:
    """A gzip upload goes upstream as sent: same bytes, same length, still `Content-Encoding:
    gzip` — OL Connect decides what to do with it, not the gateway."""
    server = await serve(server={"client_timeout": 10})  # times nothing: see test_paths
    body = gzip.compress(b"name,amount\n" + b"alice,10\n" * 5000)
    url = server.make_url(f"{B}/filestore/DataFile?filename=in.csv.gz")
    status, file_id = await post(str(url), body, {**GZIP, **FILES})
    assert status == 200, file_id
    seen = simulator.last_request["filestore.upload"]
    assert seen.headers["Content-Encoding"] == "gzip"
    assert seen.headers["Content-Length"] == str(len(body))
    stored = simulator.files.find(file_id)
    assert stored is not None
    assert stored.size == len(body)
    assert await simulator.files.head(stored, len(body) + 1) == body


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", f"{B}/entity/jobsegments/5/metadata", b'{"id": 5, "properties": []}'),
        ("GET", f"{B}/entity/jobs/1", b""),
        ("GET", f"{B}/entity/jobsets", b""),
    ],
)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "identity, gzip"])
async def test_request_bodies_encoded_where_the_gateway_reads_the_body_is_415(
    serve: Serve,  # noqa: F811
    simulator: Simulator,
    method: str,
    path: str,
    body: bytes,
    encoding: str,
) -> None:
    """The validated write reads its body and a cached read has none: an encoded one is a 415
    JSON Error, and nothing goes upstream."""
    server = await serve(server={"client_timeout": 10})  # times nothing: see test_paths
    headers: dict[str, Any] = {**FILES, "Content-Encoding": encoding}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.make_url(path), data=body, headers=headers) as answer,
    ):
        assert answer.status == 415
        error = (await answer.json())["error"]
    assert error["parameter"] == "Content-Encoding"
    assert sum(simulator.calls.values()) == 0


async def test_request_bodies_identity_encoding_is_accepted(
    serve: Serve,  # noqa: F811
    simulator: Simulator,
) -> None:
    """`Content-Encoding: identity` is no encoding: the validated write goes through."""
    server = await serve(server={"client_timeout": 10})  # times nothing: see test_paths
    headers = {**FILES, "Content-Encoding": "identity", "Content-Type": "application/json"}
    body = b'{"id": 5, "properties": [{"name": "a", "value": "b"}]}'
    url = server.make_url(f"{B}/entity/jobsegments/5/metadata")
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, data=body, headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()
