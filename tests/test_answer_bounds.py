"""Bounded work per answer (SPEC §9): oversized, deeply nested and compressed upstream answers."""

from __future__ import annotations

import collections
import tracemalloc
import zlib
from typing import Any

import pytest
from aiohttp import hdrs, web
from conftest import MakeConfig, MakeGateway, MakeGatewayFor, MakeSimulator, key_header
from pytest_aiohttp import AiohttpServer

from gateway.simulator.model.state import Compress, Fault

SEGMENTS = "/rest/serverengine/entity/jobsegments"
READER = key_header("reader")
WRITER = key_header("writer")
BIG = {"segments": {7: {"document_sets": list(range(1, 200_001))}}}  # ~1.3 MB of JSON


async def get(gateway: Any, path: str) -> tuple[int, str, dict[str, Any]]:
    async with gateway.get(path, headers=READER) as answer:
        return answer.status, answer.headers.get("X-Cache", "-"), await answer.json()


async def test_answer_over_cache_max_body_is_502_and_never_stored(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """A cached route's answer over cache.max_body is a 502, and the next read asks again."""
    sim = make_simulator(seed=BIG)
    gateway = await make_gateway_for(sim, cache={"max_body": 100_000})
    for _ in range(2):
        status, _, body = await get(gateway, f"{SEGMENTS}/7")
        assert status == 502
        assert body["error"]["message"] == "upstream answer too large"
        assert body["error"]["parameter"] == "100000"
    assert sim.calls["document_sets"] == 2  # nothing was stored
    status, outcome, _ = await get(gateway, f"{SEGMENTS}/8")  # small answers still flow
    assert (status, outcome) == (200, "MISS")


async def test_answer_under_cache_max_body_is_cached(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """The same large answer under a larger bound is stored and served."""
    sim = make_simulator(seed=BIG)
    gateway = await make_gateway_for(sim, cache={"max_body": 4_000_000})
    assert (await get(gateway, f"{SEGMENTS}/7"))[:2] == (200, "MISS")
    status, outcome, body = await get(gateway, f"{SEGMENTS}/7")
    assert (status, outcome) == (200, "HIT")
    assert len(body["identifiers"]) == 200_000


async def test_gzip_bomb_is_bounded_by_the_decoded_size(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """A gzipped answer small on the wire but over cache.max_body decoded is a 502."""
    sim = make_simulator(seed={"segments": {7: {"document_sets": [0] * 400_000}}})
    sim.compress = Compress.ALWAYS  # ~1.2 MB of JSON, a few KB gzipped
    gateway = await make_gateway_for(sim, cache={"max_body": 100_000})
    status, _, body = await get(gateway, f"{SEGMENTS}/7")
    assert status == 502
    assert body["error"]["message"] == "upstream answer too large"


async def test_deeply_nested_upstream_answer_is_502_not_500(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """JSON nested 100,000 deep from OL Connect is an invalid answer: 502, never stored."""
    sim = make_simulator()
    gateway = await make_gateway_for(sim)
    sim.fault = Fault.DEEP_JSON
    for path in (f"{SEGMENTS}/3", f"{SEGMENTS}/3/metadata", "/rest/serverengine/entity/jobs/3"):
        status, _, body = await get(gateway, path)
        assert status == 502, path
        assert body["error"]["message"] == "upstream sent an invalid answer"


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_deeply_nested_put_body_is_400_and_not_sent(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator, depth: int
) -> None:
    """A PUT body nested past the parser's limit is a 400 (or, shallow enough, a 400 for its
    shape); nothing reaches OL Connect."""
    sim = make_simulator()
    gateway = await make_gateway_for(sim)
    body = b'{"id": 3, "properties": ' + b"[" * depth + b"]" * depth + b"}"
    async with gateway.put(
        f"{SEGMENTS}/3/metadata",
        data=body,
        headers={**WRITER, "Content-Type": "application/json"},
    ) as answer:
        assert answer.status == 400
        assert (await answer.json())["error"]["status"] == 400
    assert sim.calls["metadata_put"] == 0


def _gzip_bomb(inflated: int) -> bytes:
    """`inflated` bytes of JSON whitespace, gzipped: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * (1 << 20)
    return b"".join(packer.compress(block) for _ in range(inflated >> 20)) + packer.flush()


async def test_gzip_bomb_is_never_inflated_past_the_bound(
    aiohttp_server: AiohttpServer, make_config: MakeConfig, make_gateway: MakeGateway
) -> None:
    """An upstream that gzips 32 MiB into 32 KB on a cached route: 502, never stored, and
    the gateway inflates no more than cache.max_body of it (traced Python allocations stay
    far below 32 MiB), however little arrives on the wire."""
    inflated = 32 << 20
    bomb = _gzip_bomb(inflated)
    assert len(bomb) < 64 * 1024  # one read from the socket: one call to inflate
    calls = collections.Counter[str]()

    async def login(request: web.Request) -> web.Response:
        return web.Response(text="bomb-upstream-token", headers={"Token-Expires-In": "3600"})

    async def segment(request: web.Request) -> web.Response:
        calls[request.match_info["id"]] += 1
        headers = {hdrs.CONTENT_TYPE: "application/json", hdrs.CONTENT_ENCODING: "gzip"}
        return web.Response(body=bomb, headers=headers)

    upstream = web.Application()
    upstream.router.add_post("/rest/serverengine/authentication/login", login)
    upstream.router.add_get(SEGMENTS + "/{id}", segment)
    server = await aiohttp_server(upstream)
    config = make_config(
        upstream={"url": str(server.make_url("")).rstrip("/")}, cache={"max_body": 100_000}
    )
    gateway = await make_gateway(config)
    tracemalloc.start()
    try:
        for _ in range(2):
            status, _, body = await get(gateway, f"{SEGMENTS}/7")
            assert (status, body["error"]["message"]) == (502, "upstream answer too large")
            assert body["error"]["parameter"] == "100000"  # the bound it passed
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert calls["7"] == 2  # nothing was stored
    # With the bound well under 1 MiB; inflating the whole chunk at once allocates 32 MiB.
    assert peak < inflated // 8, f"{peak} bytes allocated at the peak"


@pytest.mark.parametrize("coding", ["deflate", "DEFLATE", "gzip", "x-gzip"])
async def test_compressed_answers_are_decoded_and_stored(
    aiohttp_server: AiohttpServer, make_config: MakeConfig, make_gateway: MakeGateway, coding: str
) -> None:
    """An upstream that compresses anyway (deflate or gzip, any case): the cached read is
    decoded, checked and stored — a MISS, then a HIT of the same identifiers."""
    document = b'{"identifiers": [71, 72, 73]}'
    wbits = zlib.MAX_WBITS if coding.lower() == "deflate" else zlib.MAX_WBITS | 16
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(document) + packer.flush()

    async def login(request: web.Request) -> web.Response:
        return web.Response(text="deflate-upstream-token", headers={"Token-Expires-In": "3600"})

    async def segment(request: web.Request) -> web.Response:
        headers = {hdrs.CONTENT_TYPE: "application/json", hdrs.CONTENT_ENCODING: coding}
        return web.Response(body=packed, headers=headers)

    upstream = web.Application()
    upstream.router.add_post("/rest/serverengine/authentication/login", login)
    upstream.router.add_get(SEGMENTS + "/{id}", segment)
    server = await aiohttp_server(upstream, auto_decompress=False)
    gateway = await make_gateway(
        make_config(upstream={"url": str(server.make_url("")).rstrip("/")})
    )
    for outcome in ("MISS", "HIT"):
        status, cache, body = await get(gateway, f"{SEGMENTS}/7")
        assert (status, cache, body) == (200, outcome, {"identifiers": [71, 72, 73]})
