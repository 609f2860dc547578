"""The forwarder (SPEC §8.2, §8.4): what crosses the gateway each way, and what never does."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import (
    KEYS,
    MakeConfig,
    MakeGateway,
    MakeGatewayFor,
    MakeSimulator,
    MakeSimulatorServer,
    basic_auth_header,
    key_header,
)
from structlog.testing import capture_logs
from yarl import URL

from gateway.simulator import Simulator
from gateway.simulator.model.filestore import CHUNK as SIM_CHUNK
from gateway.simulator.model.state import Compress, Fault, Stall
from gateway.upstream.bodies import KEEP_LIMIT

Client = TestClient[Any, Any]
BASE = "/rest/serverengine"
ADMIN = key_header("admin")  # every scope
RESOURCES = f"{BASE}/filestore/resources"
UPLOAD = f"{BASE}/filestore/DataFile"


async def upload(gateway: Client, data: bytes, name: str = "data.csv") -> str:
    async with gateway.post(f"{UPLOAD}?filename={name}", data=data, headers=ADMIN) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.text()


async def test_proxy_strips_client_credentials_and_hop_by_hop_headers(
    gateway: Client, simulator: Simulator
) -> None:
    """No client credential or hop-by-hop header reaches OL Connect; its own token does."""
    headers = {
        "X-API-Key": KEYS["admin"],
        "Cookie": "session=abc",
        "Connection": "keep-alive, X-Private",
        "X-Private": "hop",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic eDp5",
        "TE": "trailers",
        "Accept": "application/json",
        "X-Custom-End-To-End": "kept",
    }
    async with gateway.get(RESOURCES, headers=headers) as answer:
        assert answer.status == 200
    seen = simulator.last_request["filestore.resources"].headers
    assert seen["auth_token"] in simulator.issued_tokens()
    for name in ("X-API-Key", "Authorization", "Cookie", "X-Private", "Keep-Alive", "TE"):
        assert name not in seen, name
    assert "Proxy-Authorization" not in seen
    assert seen["Accept"] == "application/json"
    assert seen["X-Custom-End-To-End"] == "kept"
    for key in KEYS.values():
        assert all(key not in value for value in seen.values())


@pytest.mark.parametrize(
    "credential",
    [
        {"Authorization": f"Bearer {KEYS['admin']}"},
        {"auth_token": KEYS["admin"]},
        {"Authorization": basic_auth_header("admin", KEYS["admin"])},
    ],
)
async def test_proxy_never_forwards_any_credential_form(
    gateway: Client, simulator: Simulator, credential: dict[str, str]
) -> None:
    """Whichever form the key came in, OL Connect sees only the gateway's own token."""
    async with gateway.get(RESOURCES, headers=credential) as answer:
        assert answer.status == 200
    seen = simulator.last_request["filestore.resources"].headers
    assert "Authorization" not in seen
    assert seen.getall("auth_token") == [seen["auth_token"]]
    assert seen["auth_token"] != KEYS["admin"]


async def test_proxy_keeps_query_string_byte_for_byte(
    gateway: Client, simulator: Simulator
) -> None:
    """Repeated, case-sensitive and odd parameters arrive exactly as the client sent them."""
    query = "id=1&id=2&ID=3&recursive=true&x=%2F%41&empty=&flag"
    target = f"{BASE}/entity/datarecords/values?{query}"
    # encoded=True: the test client must not requote it either.
    async with gateway.get(URL(target, encoded=True), headers=ADMIN) as answer:
        assert answer.status == 200, await answer.text()
    assert simulator.last_request["datarecords.values_multi_get"].raw_path == target


async def test_proxy_passes_back_operation_headers_with_links_made_relative(
    gateway: Client,
) -> None:
    """A started operation answers 202 with operationId and Links pointing at the gateway."""
    file_id = await upload(gateway, b"a,b\n1,2\n")
    path = f"{BASE}/workflow/datamining/config.OL-datamapper/{file_id}"
    async with gateway.post(path, headers=ADMIN) as answer:
        assert answer.status == 202, await answer.text()
        operation = answer.headers["operationId"]
        link = answer.headers[hdrs.LINK]
    for rel, action in (("progress", "getProgress"), ("result", "getResult"), ("cancel", "cancel")):
        assert f'<{BASE}/workflow/datamining/{action}/{operation}>; rel="{rel}"' in link
    assert "http" not in link  # the upstream's origin is gone


async def test_proxy_drops_upstream_session_headers(gateway: Client, simulator: Simulator) -> None:
    """Set-Cookie, WWW-Authenticate and Token-Expires-In never come back from OL Connect,
    on forwarded answers (2xx and the upstream's own errors) nor on cached ones."""
    async with gateway.get(f"{BASE}/filestore", headers=ADMIN) as answer:
        assert answer.status == 200  # a cached handshake: the simulator sets a cookie on it
        assert hdrs.SET_COOKIE not in answer.headers
    session = {
        hdrs.WWW_AUTHENTICATE: 'Basic realm="OL Connect"',
        "Token-Expires-In": "3600",
        hdrs.SET_COOKIE: "JSESSIONID=ABC123; Path=/; HttpOnly",
        "X-Olc-Kept": "end-to-end",  # proves the headers reached the gateway
    }
    simulator.answer_headers = session
    for path, status in (
        (RESOURCES, 200),
        (f"{BASE}/workflow/datamining/getProgress/999999", 404),  # the upstream's own answer
    ):
        async with gateway.get(path, headers=ADMIN) as answer:
            assert answer.status == status
            assert answer.headers["X-Olc-Kept"] == "end-to-end"
            for name in (hdrs.WWW_AUTHENTICATE, "Token-Expires-In", hdrs.SET_COOKIE):
                assert name not in answer.headers, (path, name)


async def test_proxy_passes_upstream_errors_back_as_they_are(
    gateway: Client, simulator: Simulator
) -> None:
    """A forwarded route's 4xx and 5xx are OL Connect's answers, not the gateway's 502."""
    async with gateway.put(
        f"{BASE}/entity/jobs/1/properties", json={"id": 2, "properties": []}, headers=ADMIN
    ) as answer:
        assert answer.status == 500  # OL Connect's answer to an id mismatch
        error = (await answer.json())["error"]
        assert error["status"] == 500


async def test_proxy_never_follows_redirects_and_rewrites_their_location(
    gateway: Client, simulator: Simulator
) -> None:
    """A 302 goes back to the client; a Location on the upstream origin becomes relative."""
    simulator.redirect_to = f"{BASE}/filestore/version"
    async with gateway.get(RESOURCES, headers=ADMIN, allow_redirects=False) as answer:
        assert answer.status == 302
        assert answer.headers[hdrs.LOCATION] == f"{BASE}/filestore/version"
    assert simulator.calls["filestore.version"] == 0  # the gateway did not follow it
    simulator.redirect_to = "https://elsewhere.example/x"
    async with gateway.get(RESOURCES, headers=ADMIN, allow_redirects=False) as answer:
        assert answer.headers[hdrs.LOCATION] == "https://elsewhere.example/x"


async def test_proxy_download_keeps_content_disposition_and_head_works(gateway: Client) -> None:
    """Downloads stream back with their Content-Disposition; HEAD answers the length only."""
    body = bytes(range(256)) * 1000
    file_id = await upload(gateway, body, name="report.bin")
    async with gateway.get(f"{BASE}/filestore/file/{file_id}", headers=ADMIN) as answer:
        assert answer.status == 200
        assert answer.headers[hdrs.CONTENT_DISPOSITION] == 'attachment; filename="report.bin"'
        assert answer.headers[hdrs.CONTENT_TYPE] == "application/octet-stream"
        assert await answer.read() == body
    async with gateway.head(f"{BASE}/filestore/file/{file_id}", headers=ADMIN) as answer:
        assert answer.status == 200
        assert answer.headers[hdrs.CONTENT_LENGTH] == str(len(body))
        assert await answer.read() == b""
    async with gateway.get(f"{BASE}/filestore/file/report.bin", headers=ADMIN) as answer:
        assert await answer.read() == body  # a file id may be a name


async def test_proxy_file_names_are_forwarded_percent_encoded(
    gateway: Client, simulator: Simulator
) -> None:
    """A file id that is a name keeps its exact percent-encoding upstream."""
    await upload(gateway, b"x", name="my%20file%2B1.csv")
    async with gateway.get(f"{BASE}/filestore/file/my%20file%2B1.csv", headers=ADMIN) as answer:
        assert answer.status == 200, await answer.text()
        assert await answer.read() == b"x"
    assert simulator.last_request["filestore.download"].raw_path.endswith("my%20file%2B1.csv")


async def test_proxy_content_length_over_max_body_is_413_before_upstream(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """A Content-Length over server.max_body is refused; nothing reaches OL Connect."""
    sim = make_simulator()
    gateway = await make_gateway_for(sim, server={"max_body": 1000})
    async with gateway.post(f"{UPLOAD}?filename=a", data=b"x" * 1001, headers=ADMIN) as answer:
        assert answer.status == 413
        assert (await answer.json())["error"]["status"] == 413
    assert sim.calls["filestore.upload"] == 0


async def test_proxy_chunked_body_growing_past_max_body_is_cut_off_and_413(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """A chunked body that grows past server.max_body is cut off upstream and answered 413."""
    sim = make_simulator()
    gateway = await make_gateway_for(sim, server={"max_body": 3 * 1024 * 1024})

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * (1024 * 1024)

    async with gateway.post(f"{UPLOAD}?filename=big", data=chunks(), headers=ADMIN) as answer:
        assert answer.status == 413
    assert sim.files.find("big") is None  # the upload never completed upstream


async def test_proxy_waits_for_a_slot_then_answers_503(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """With every upstream slot held past upstream.timeout, a request gets 503 + Retry-After."""
    sim = make_simulator()
    file_id = sim.generate_file("slow.bin", 10 * SIM_CHUNK)
    # A download that keeps moving (a chunk every 0.3 s, well inside the 1 s timeout)
    # holds its slot for ~3 s, longer than the next request may wait for one.
    sim.download_delay = 0.3
    gateway = await make_gateway_for(sim, upstream={"max_connections": 1, "timeout": 1.0})
    download = await gateway.get(f"{BASE}/filestore/file/{file_id}", headers=ADMIN)
    async with gateway.get(RESOURCES, headers=ADMIN) as answer:
        assert answer.status == 503
        assert answer.headers[hdrs.RETRY_AFTER] == "1"
        assert (await answer.json())["error"]["status"] == 503
    assert sim.calls["filestore.resources"] == 0
    assert len(await download.read()) == 10 * SIM_CHUNK


async def test_proxy_retries_a_small_body_once_after_a_refused_token(
    gateway: Client, simulator: Simulator
) -> None:
    """An upstream 401 on a kept body: one re-login, the same request once more, success."""
    await upload(gateway, b"warm-up")  # the gateway holds a token now
    logins = simulator.calls["login"]
    simulator.expire_all_tokens()
    async with gateway.post(f"{UPLOAD}?filename=small", data=b"s" * 1000, headers=ADMIN) as answer:
        assert answer.status == 200
        file_id = await answer.text()
    assert simulator.calls["login"] == logins + 1
    assert simulator.calls["filestore.upload"] == 3  # warm-up, refused, retried
    assert simulator.files.find(file_id) is not None


async def test_proxy_never_sends_a_streamed_body_twice(
    gateway: Client, simulator: Simulator
) -> None:
    """A refused token on a body over 1 MiB: 503 + Retry-After: 1, renewed; the retry works."""
    await upload(gateway, b"warm-up")
    simulator.expire_all_tokens()
    big = b"b" * (2 * 1024 * 1024)
    async with gateway.post(
        f"{UPLOAD}?filename=big", data=io.BytesIO(big), headers=ADMIN
    ) as answer:
        assert answer.status == 503
        assert answer.headers[hdrs.RETRY_AFTER] == "1"
        assert (await answer.json())["error"]["message"] == "upstream token was refused; retry"
    uploads = simulator.calls["filestore.upload"]
    async with gateway.post(
        f"{UPLOAD}?filename=big", data=io.BytesIO(big), headers=ADMIN
    ) as answer:
        assert answer.status == 200
    assert simulator.calls["filestore.upload"] == uploads + 1  # the renewed token was ready


async def test_proxy_download_that_keeps_moving_outlives_the_timeout(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """A slow download longer in total than upstream.timeout finishes: the bound is progress."""
    sim = make_simulator()
    file_id = sim.generate_file("slow.bin", 6 * SIM_CHUNK)
    sim.download_delay = 0.2  # per chunk: about 1.2 s in all, against a 0.5 s timeout
    gateway = await make_gateway_for(sim, upstream={"timeout": 0.5})
    async with gateway.get(f"{BASE}/filestore/file/{file_id}", headers=ADMIN) as answer:
        assert answer.status == 200
        assert len(await answer.read()) == 6 * SIM_CHUNK


async def test_proxy_download_that_stalls_is_cut_off(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """No byte for upstream.timeout mid-body: the client's connection is cut, never hung."""
    sim = make_simulator()
    file_id = sim.generate_file("stall.bin", 4 * SIM_CHUNK)
    sim.stall = Stall(after_bytes=SIM_CHUNK, seconds=3.0)
    gateway = await make_gateway_for(sim, upstream={"timeout": 0.3})
    with capture_logs() as logs:
        async with gateway.get(f"{BASE}/filestore/file/{file_id}", headers=ADMIN) as answer:
            assert answer.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await answer.read()
    [event] = [e for e in logs if e["event"] == "upstream_failed"]
    assert (event["cause"], event["stage"]) == ("timeout", "body")
    assert event["route"] == f"{BASE}/filestore/file/{{fileId}}"


@pytest.mark.parametrize("mode", [Compress.HONOUR, Compress.ALWAYS])
async def test_proxy_compressed_answers_are_served_correctly(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator, mode: Compress
) -> None:
    """An upstream that gzips: cached reads are decoded and stored; forwarded ones pass as is."""
    sim = make_simulator()
    sim.compress = mode
    gateway = await make_gateway_for(sim)
    for _ in range(2):  # a MISS, then a HIT of the decoded body
        async with gateway.get(f"{BASE}/entity/jobsegments/5", headers=ADMIN) as answer:
            assert answer.status == 200
            assert await answer.json() == {"identifiers": [51, 52, 53]}
    async with gateway.get(
        RESOURCES, headers={**ADMIN, hdrs.ACCEPT_ENCODING: "gzip"}, auto_decompress=False
    ) as answer:
        assert answer.status == 200
        assert answer.headers[hdrs.CONTENT_ENCODING] == "gzip"
        raw = await answer.read()
    assert isinstance(gzip.decompress(raw), bytes)


async def test_proxy_metrics_and_log_name_the_route_template(
    gateway: Client, simulator: Simulator
) -> None:
    """Forwarded requests are counted by template (or <service>/*) and bytes each way."""
    file_id = await upload(gateway, b"z" * 5000)
    async with gateway.get(f"{BASE}/filestore/file/{file_id}", headers=ADMIN) as answer:
        await answer.read()
    async with gateway.get(f"{BASE}/filestore/newer/route/1", headers=ADMIN) as answer:
        assert answer.status == 404  # OL Connect's answer: the route is forwarded
    async with gateway.get("/metrics") as answer:
        text = await answer.text()
    assert 'route="/rest/serverengine/filestore/file/{fileId}"' in text
    assert 'route="/rest/serverengine/filestore/*"' in text
    assert "/newer/route" not in text
    upload_bytes = _sample(text, 'olcg_body_bytes_total{direction="upload"}')
    download_bytes = _sample(text, 'olcg_body_bytes_total{direction="download"}')
    assert upload_bytes >= 5000
    assert download_bytes >= 5000


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not exported")


async def test_proxy_rewrites_links_of_an_upstream_under_a_path_prefix(
    make_simulator: MakeSimulator,
    make_simulator_server: MakeSimulatorServer,
    make_config: MakeConfig,
    make_gateway: MakeGateway,
) -> None:
    """With `upstream.url` under a path (`…/olc`), requests go under it, and Link and
    Location URLs under it come back origin-relative without it, query and fragment kept;
    URLs elsewhere on that origin stay as they are."""
    sim = make_simulator()
    server = await make_simulator_server(sim, prefix="/olc")
    upstream = str(server.make_url("/olc"))
    gateway = await make_gateway(make_config(upstream={"url": upstream}))
    file_id = await upload(gateway, b"a,b\n1,2\n")
    assert sim.last_request["filestore.upload"].raw_path.startswith(f"/olc{UPLOAD}?")
    async with gateway.post(f"{BASE}/workflow/datamining/cfg/{file_id}", headers=ADMIN) as answer:
        assert answer.status == 202, await answer.text()
        operation = answer.headers["operationId"]
        link = answer.headers[hdrs.LINK]
    assert f'<{BASE}/workflow/datamining/getProgress/{operation}>; rel="progress"' in link
    for target, location in (
        (
            f"{BASE}/filestore/version?a=1&b=%2F%41#top",
            f"{BASE}/filestore/version?a=1&b=%2F%41#top",
        ),
        (f"{server.make_url('/olcother/x?y=1')}", f"{server.make_url('/olcother/x?y=1')}"),
        (f"{server.make_url('/x')}", f"{server.make_url('/x')}"),
    ):
        sim.redirect_to = target
        async with gateway.get(RESOURCES, headers=ADMIN, allow_redirects=False) as answer:
            assert answer.status == 302
            assert answer.headers[hdrs.LOCATION] == location, target


async def test_proxy_unknown_service_is_the_gateways_own_404(
    gateway: Client, simulator: Simulator
) -> None:
    """A path under /rest/serverengine whose service the catalogue does not know never goes
    upstream: the gateway answers a 404 JSON Error naming the path (cut at 128 characters)."""
    long_tail = "x" * 200
    for path in (f"{BASE}/nosuchservice/1", f"{BASE}/nosuchservice/{long_tail}"):
        async with gateway.get(f"{path}?q=1", headers=ADMIN) as answer:
            assert answer.status == 404
            error = (await answer.json())["error"]
        assert error == {
            "status": 404,
            "message": "no such OL Connect service or route",
            "parameter": path[:128],
        }
    assert sum(simulator.calls.values()) == 0  # not even a login


async def test_proxy_retry_after_a_refused_token_is_counted_under_its_route(
    gateway: Client, simulator: Simulator
) -> None:
    """The refused attempt and its retry are both upstream requests of the route's label."""
    await upload(gateway, b"warm-up")
    simulator.expire_all_tokens()
    await upload(gateway, b"again")
    async with gateway.get("/metrics") as answer:
        text = await answer.text()
    for status, count in ((200, 2), (401, 1)):
        series = f'olcg_upstream_requests_total{{route="{UPLOAD}",status="{status}"}}'
        assert _sample(text, series) == count, status


async def test_proxy_streams_a_sized_body_with_its_length(
    gateway: Client, simulator: Simulator
) -> None:
    """A body over 1 MiB with a Content-Length streams upstream with that Content-Length,
    never re-framed as chunked."""
    body = b"s" * (2 * 1024 * 1024)
    async with gateway.post(
        f"{UPLOAD}?filename=sized.bin", data=io.BytesIO(body), headers=ADMIN
    ) as answer:
        assert answer.status == 200, await answer.text()
    seen = simulator.last_request["filestore.upload"].headers
    assert seen[hdrs.CONTENT_LENGTH] == str(len(body))
    assert hdrs.TRANSFER_ENCODING not in seen


async def test_proxy_chunked_body_past_max_body_names_the_bound(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """The 413 for a chunked body that grows past server.max_body names the bound."""
    gateway = await make_gateway_for(make_simulator(), server={"max_body": 2 * 1024 * 1024})

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * (1024 * 1024 + 1)

    async with gateway.post(f"{UPLOAD}?filename=big", data=chunks(), headers=ADMIN) as answer:
        assert answer.status == 413
        assert (await answer.json())["error"]["parameter"] == str(2 * 1024 * 1024)


async def test_proxy_drops_headers_a_connection_header_lists_without_spaces(
    gateway: Client, simulator: Simulator
) -> None:
    """`Connection: X-One,X-Two` makes both hop-by-hop: neither reaches OL Connect."""
    headers = {**ADMIN, "Connection": "X-One,X-Two", "X-One": "1", "X-Two": "2", "X-Three": "3"}
    async with gateway.get(RESOURCES, headers=headers) as answer:
        assert answer.status == 200
    seen = simulator.last_request["filestore.resources"].headers
    assert ("X-One" in seen, "X-Two" in seen, seen.get("X-Three")) == (False, False, "3")


async def test_proxy_a_body_of_exactly_one_mib_is_kept_for_the_retry(
    gateway: Client, simulator: Simulator
) -> None:
    """SPEC 8.4: bodies up to 1 MiB are kept, 1 MiB itself included: after a refused token
    it is sent again and the upload succeeds (a larger one would be a 503)."""
    await upload(gateway, b"warm-up")
    simulator.expire_all_tokens()
    body = b"k" * KEEP_LIMIT
    async with gateway.post(
        f"{UPLOAD}?filename=exact", data=io.BytesIO(body), headers=ADMIN
    ) as answer:
        assert answer.status == 200, await answer.text()
    assert simulator.calls["filestore.upload"] == 3  # warm-up, refused, sent again


async def test_proxy_streamed_upload_waits_for_the_head_only_upstream_timeout(
    make_gateway_for: MakeGatewayFor, make_simulator: MakeSimulator
) -> None:
    """A streamed upload whose upstream never answers is a 504 after upstream.timeout, not
    a request that waits as long as the upstream likes."""
    sim = make_simulator()
    silent = sim.route_gates["filestore.upload"] = asyncio.Event()  # never answers
    gateway = await make_gateway_for(sim, upstream={"timeout": 0.5})
    try:
        async with gateway.post(
            f"{UPLOAD}?filename=slow", data=io.BytesIO(b"u" * (2 * KEEP_LIMIT)), headers=ADMIN
        ) as answer:
            assert answer.status == 504
    finally:
        silent.set()


async def test_proxy_unreachable_upstream_is_a_502_that_names_its_cause(
    make_config: MakeConfig, make_gateway: MakeGateway
) -> None:
    """Nothing listens at upstream.url: 502, and the failure event says `connection_refused`
    (the login fails first: nothing is sent)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free again once closed: nothing listens there
    gateway = await make_gateway(make_config(upstream={"url": f"http://127.0.0.1:{port}"}))
    with capture_logs() as logs:
        async with gateway.get(RESOURCES, headers=ADMIN) as answer:
            assert answer.status == 502
    causes = {e.get("cause") for e in logs if e["event"] in ("upstream_failed", "upstream_login")}
    assert "connection_refused" in causes, logs


async def test_proxy_dropped_connection_is_a_502_that_names_its_cause(
    gateway: Client, simulator: Simulator
) -> None:
    """The upstream closes the connection without an answer on a forwarded route: 502, and
    the failure event names the cause and the error."""
    await upload(gateway, b"warm-up")  # logged in: the failure is the request's own
    simulator.fault = Fault.DROP
    with capture_logs() as logs:
        async with gateway.get(RESOURCES, headers=ADMIN) as answer:
            assert answer.status == 502
    [event] = [e for e in logs if e["event"] == "upstream_failed"]
    assert (event["cause"], event["error"]) == ("connection_reset", "ServerDisconnectedError")
    assert event["route"] == RESOURCES


async def test_proxy_access_line_carries_the_upstream_time(
    gateway: Client, log_output: io.StringIO
) -> None:
    """SPEC 6: a forwarded request's access line has `upstream_ms`, as cached ones do."""
    async with gateway.get(RESOURCES, headers=ADMIN) as answer:
        assert answer.status == 200
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    [access] = [e for e in lines if e.get("event") == "request" and e["path"] == RESOURCES]
    assert isinstance(access["upstream_ms"], float)
    assert 0 <= access["upstream_ms"] <= access["duration_ms"]
