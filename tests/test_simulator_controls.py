"""Every service's handshake, route names, and the test controls (gzip, redirects, last request)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import MakeSimulatorServer, basic_auth_header
from simulator_support import BASE, GOOD_BASIC, JSON, error_of, json_of, open_session

from gateway.simulator import ROUTES, SIMULATOR_KEY, Compress, Fault, Simulator
from gateway.simulator.http.routing import ROUTE_NAMES_KEY
from gateway.simulator.http.services import SERVICES


@pytest.fixture
async def client(simulator_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A session on the simulator with good Basic credentials."""
    async with open_session(simulator_server) as session:
        yield session


SET_SERVICES = ("jobsets", "datasets", "contentsets")


@pytest.mark.parametrize(
    ("base", "prefix", "internal"), [s for s in SERVICES if s[1] not in SET_SERVICES]
)
async def test_every_service_handshake_and_version(
    client: aiohttp.ClientSession, simulator: Simulator, base: str, prefix: str, internal: str
) -> None:
    """GET and HEAD `<base>` answer the handshake with a session cookie; `<base>/version` too."""
    async with client.get(f"{BASE}{base}") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        assert await resp.text() == f"Server Engine REST Service available: {internal}"
        assert resp.headers["Set-Cookie"].startswith("JSESSIONID=")
    async with client.head(f"{BASE}{base}") as resp:
        assert resp.status == 200
    async with client.get(f"{BASE}{base}/version") as resp:
        assert await resp.text() == "2025.1.0"
    assert simulator.calls[f"{prefix}.handshake"] == 2
    assert simulator.calls[f"{prefix}.version"] == 1


@pytest.mark.parametrize("family", SET_SERVICES)
async def test_set_service_roots_answer_every_set(
    client: aiohttp.ClientSession, simulator: Simulator, family: str
) -> None:
    """`GET entity/<sets>` is "get all": the JSON Identifier List of every set, a deleted
    one gone (FIDELITY B1)."""
    async with client.get(f"{BASE}/entity/{family}") as resp:
        assert resp.status == 200
        assert resp.content_type == JSON
        assert (await resp.json())["identifiers"] == list(range(1, 26))  # 100 segments
    async with client.post(f"{BASE}/entity/{family}/3/delete") as resp:
        assert resp.status == 200
    async with client.get(f"{BASE}/entity/{family}") as resp:
        assert 3 not in (await resp.json())["identifiers"]
    async with client.get(f"{BASE}/entity/{family}/version") as resp:
        assert await resp.text() == "2025.1.0"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": basic_auth_header("ol-admin", "no")}, 401)],
)
async def test_handshakes_take_credentials(
    simulator_server: TestServer, headers: dict[str, str], status: int
) -> None:
    """Even the Authentication service's handshake needs credentials, as in OL Connect."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(simulator_server.make_url(f"{BASE}/authentication"), headers=headers) as resp,
    ):
        assert resp.status == status
        await error_of(resp)


def test_every_route_name_is_served(simulator_server: TestServer) -> None:
    """The registered routes carry exactly the names of `ROUTES`, each once per method."""
    assert simulator_server.app is not None
    assert set(simulator_server.app[ROUTE_NAMES_KEY].values()) == set(ROUTES)
    assert len(ROUTES) == len(set(ROUTES))


async def test_route_latency_and_faults_cover_new_routes(
    client: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """`route_latency` and `fault` work on every route name, not only the job segments'."""
    simulator.route_latency["jobs.get"] = 0.05
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with client.get(f"{BASE}/entity/jobs/1") as resp:
        assert resp.status == 200
    assert loop.time() - started >= 0.05
    simulator.fault = Fault.STATUS_500
    async with client.post(f"{BASE}/filestore/DataFile", data=b"x") as resp:
        assert resp.status == 500
    assert simulator.calls["filestore.upload"] == 1
    assert len(simulator.files) == 0


async def test_last_request_keeps_raw_target_and_headers(
    client: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """`last_request[name]` holds the raw path and query as sent and a copy of the headers."""
    query = "id=2&id=1&Recursive=a%20b&outputFormat=default"
    headers = {"X-Custom": "one", "Cookie": "JSESSIONID=abc"}
    async with client.get(f"{BASE}/entity/datarecords/values?{query}", headers=headers) as resp:
        assert resp.status == 200
    seen = simulator.last_request["datarecords.values_multi_get"]
    assert seen.method == "GET"
    assert seen.raw_path == f"{BASE}/entity/datarecords/values?{query}"
    assert seen.query_string == query
    assert seen.headers["x-custom"] == "one"
    assert seen.headers["Cookie"] == "JSESSIONID=abc"
    assert seen.headers["Authorization"] == GOOD_BASIC


@pytest.mark.parametrize(
    ("mode", "accept", "gzipped"),
    [
        (Compress.OFF, "gzip", False),
        (Compress.HONOUR, "gzip, deflate", True),
        (Compress.HONOUR, "deflate, gzip;q=0", False),
        (Compress.HONOUR, "identity", False),
        (Compress.ALWAYS, "identity", True),
    ],
)
async def test_compress(
    simulator: Simulator,
    simulator_server: TestServer,
    mode: Compress,
    accept: str,
    gzipped: bool,
) -> None:
    """`compress` gzips JSON answers and downloads as told, with Content-Encoding: gzip."""
    simulator.compress = mode
    simulator.generate_file("big", 300_000)
    headers = {"Authorization": GOOD_BASIC, "Accept-Encoding": accept}
    async with aiohttp.ClientSession(auto_decompress=False, headers=headers) as session:
        for path, plain in [
            (f"{BASE}/entity/jobsets/1", b'{"identifiers":[1,2]}'),
            (f"{BASE}/filestore/file/big", None),
        ]:
            async with session.get(simulator_server.make_url(path)) as resp:
                body = await resp.read()
                assert resp.status == 200
                assert (resp.headers.get("Content-Encoding") == "gzip") is gzipped
            decoded = gzip.decompress(body) if gzipped else body
            assert decoded == plain if plain is not None else len(decoded) == 300_000


@pytest.mark.parametrize("target", ["/rest/serverengine/moved/here", "http://elsewhere.example/x"])
async def test_redirect_to(
    client: aiohttp.ClientSession, simulator: Simulator, target: str
) -> None:
    """`redirect_to` answers 302 to an absolute URL (a path is made absolute on this origin)."""
    simulator.redirect_to = target
    async with client.get(f"{BASE}/entity/jobs/1", allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
        if target.startswith("/"):
            assert location == str(resp.url.origin()) + target
        else:
            assert location == target
    async with client.post(f"{BASE}/authentication/login", allow_redirects=False) as resp:
        assert resp.status == 200


async def test_controls_for_new_settings(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer
) -> None:
    """`/_sim/fault` sets the new knobs; `/_sim/requests` and `/_sim/files` serve other tests."""
    server = await make_simulator_server(simulator, expose_controls=True)
    assert server.app is not None
    assert server.app[SIMULATOR_KEY] is simulator
    settings = {
        "compress": "always",
        "redirect_to": "/x",
        "stall": {"after_bytes": 10, "seconds": 0.5},
        "download_delay": 0.01,
        "progress_steps": [5, 95],
        "route_latency": {"jobs.get": 0.01},
    }
    async with aiohttp.ClientSession(base_url=server.make_url("")) as control:
        async with control.put("/_sim/fault", json=settings) as resp:
            answered = await json_of(resp)
        assert {k: answered[k] for k in settings} == settings
        assert simulator.compress is Compress.ALWAYS
        assert simulator.progress_steps == (5, 95)
        for bad in (
            {"compress": "zip"},
            {"redirect_to": "x"},
            {"stall": {"after_bytes": -1, "seconds": 1}},
            {"progress_steps": [101]},
            {"route_latency": {"nope": 1}},
        ):
            async with control.put("/_sim/fault", json=bad) as resp:
                assert resp.status == 400, bad
        async with control.put(
            "/_sim/fault", json={"redirect_to": None, "compress": "off"}
        ) as resp:
            assert resp.status == 200
        async with control.post("/_sim/files", json={"name": "big", "size": 5}) as resp:
            file_id = (await json_of(resp))["id"]
        async with control.post("/_sim/files", json={"name": "big", "size": -5}) as resp:
            assert resp.status == 400
        auth = {"Authorization": GOOD_BASIC, "X-Trace": "t1"}
        async with control.get(f"{BASE}/filestore/file/{file_id}?a=1", headers=auth) as resp:
            assert await resp.read() == b"\x00\x01\x02\x03\x04"
        async with control.get("/_sim/requests") as resp:
            seen = (await json_of(resp))["filestore.download"]
        assert seen["raw_path"] == f"{BASE}/filestore/file/{file_id}?a=1"
        assert ["X-Trace", "t1"] in seen["headers"]
        async with control.get("/_sim/calls") as resp:
            calls = await json_of(resp)
        assert set(calls) == set(ROUTES)
        assert calls["filestore.download"] == 1
        async with control.post("/_sim/reset") as resp:
            assert resp.headers["Content-Type"] == JSON
    assert (simulator.stall, simulator.download_delay, simulator.last_request) == (None, 0.0, {})
    assert simulator.files.find(str(file_id)) is None


async def test_controls_answer_headers_reach_every_answer_but_the_login(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer
) -> None:
    """`answer_headers` lands on answers and errors of simulated routes, never on the login's
    answer nor on the controls'; `/_sim/fault` sets it, `reset` lifts it."""
    server = await make_simulator_server(simulator, expose_controls=True)
    extra = {"WWW-Authenticate": 'Basic realm="olc"', "Token-Expires-In": "7"}
    async with aiohttp.ClientSession(base_url=server.make_url("")) as control:
        async with control.put("/_sim/fault", json={"answer_headers": extra}) as resp:
            assert (await json_of(resp))["answer_headers"] == extra
            assert "Token-Expires-In" not in resp.headers
        for bad in ({"answer_headers": {"X": 1}}, {"answer_headers": ["X"]}):
            async with control.put("/_sim/fault", json=bad) as resp:
                assert resp.status == 400, bad
        auth = {"Authorization": GOOD_BASIC}
        for path, status in ((f"{BASE}/entity/jobs/1", 200), (f"{BASE}/entity/jobs/99999", 404)):
            async with control.get(path, headers=auth) as resp:
                assert resp.status == status
                assert {name: resp.headers[name] for name in extra} == extra
        async with control.post(f"{BASE}/authentication/login", headers=auth) as resp:
            assert resp.headers["Token-Expires-In"] == "3600"
            assert "WWW-Authenticate" not in resp.headers
        async with control.post("/_sim/reset") as resp:
            assert resp.status == 200
        async with control.get(f"{BASE}/entity/jobs/1", headers=auth) as resp:
            assert "Token-Expires-In" not in resp.headers
    assert simulator.answer_headers == {}


async def test_controls_newer_routes_answer_true_behind_authentication(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer
) -> None:
    """A path in `newer_routes` answers 200 `true` to any method once authenticated, and is
    counted; other unknown paths stay 404, and known routes keep their own answers."""
    server = await make_simulator_server(simulator, expose_controls=True)
    newer = f"{BASE}/entity/jobs/3/newer"
    async with aiohttp.ClientSession(base_url=server.make_url("")) as control:
        async with control.put(f"{BASE}/entity/jobs/3/newer", headers={}) as resp:
            assert resp.status == 404  # not yet a route
        async with control.put("/_sim/fault", json={"newer_routes": [newer]}) as resp:
            assert (await json_of(resp))["newer_routes"] == [newer]
        async with control.put("/_sim/fault", json={"newer_routes": ["x"]}) as resp:
            assert resp.status == 400
        async with control.put(newer, json={"anything": 1}) as resp:
            assert resp.status == 401  # authenticated like every other route
        for method in ("PUT", "POST", "DELETE", "GET"):
            async with control.request(method, newer, headers={"Authorization": GOOD_BASIC}) as r:
                assert (r.status, await r.text()) == (200, "true")
        async with control.get(
            f"{BASE}/entity/jobs/3/older", headers={"Authorization": GOOD_BASIC}
        ) as r:
            assert r.status == 404
    assert simulator.calls["newer_route"] == 5
    assert simulator.last_request["newer_route"].method == "GET"


async def test_controls_prefix_serves_everything_under_a_path(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer
) -> None:
    """Under a prefix the routes, controls, redirects and operation Links all carry it."""
    server = await make_simulator_server(simulator, expose_controls=True, prefix="/olc")
    assert server.app is not None
    assert server.app[SIMULATOR_KEY] is simulator
    base = str(server.make_url("/olc"))
    async with aiohttp.ClientSession(headers={"Authorization": GOOD_BASIC}) as session:
        async with session.get(f"{base}{BASE}/entity/jobs/1") as resp:
            assert resp.status == 200
        async with session.get(str(server.make_url(f"{BASE}/entity/jobs/1"))) as resp:
            assert resp.status == 404  # nothing outside the prefix
        async with session.post(f"{base}/_sim/files", json={"name": "d.csv", "size": 3}) as resp:
            file_id = (await json_of(resp))["id"]
        async with session.post(f"{base}{BASE}/workflow/datamining/cfg/{file_id}") as resp:
            assert resp.status == 202
            operation = resp.headers["operationId"]
            link = resp.headers["Link"]
        assert f"<{base}{BASE}/workflow/datamining/getProgress/{operation}>" in link
        simulator.redirect_to = f"{BASE}/filestore/version?a=1"
        async with session.get(f"{base}{BASE}/entity/jobs/1", allow_redirects=False) as resp:
            assert resp.headers["Location"] == f"{base}{BASE}/filestore/version?a=1"
