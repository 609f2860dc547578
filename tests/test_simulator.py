"""The OL Connect simulator, exercised through real loopback sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer
from conftest import FakeClock, MakeSimulator, MakeSimulatorServer, basic_auth_header

from gateway.simulator import SIMULATOR_KEY, AuthErrors, Fault, Simulator, load_seed

LOGIN = "/rest/serverengine/authentication/login"
SEGMENTS = "/rest/serverengine/entity/jobsegments"
GOOD_BASIC = basic_auth_header("ol-admin", "secret")
JSON = "application/json"


@pytest.fixture
async def session(simulator_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose base URL is the simulator."""
    async with aiohttp.ClientSession(base_url=simulator_server.make_url("")) as client:
        yield client


@pytest.fixture
async def token(session: aiohttp.ClientSession) -> str:
    """A token from a successful login."""
    async with session.post(LOGIN, headers={"Authorization": GOOD_BASIC}) as resp:
        assert resp.status == 200
        return await resp.text()


async def error_of(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The `error` object of a JSON Error answer, after checking its shape."""
    assert resp.content_type == JSON
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "message", "parameter"}
    assert body["error"]["status"] == resp.status
    error: dict[str, Any] = body["error"]
    return error


async def test_login_returns_token_and_expiry(session: aiohttp.ClientSession) -> None:
    """A good Basic login answers a text/plain token and Token-Expires-In."""
    async with session.post(LOGIN, headers={"Authorization": GOOD_BASIC}) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        assert resp.headers["Token-Expires-In"] == "3600"
        assert len(await resp.text()) >= 20


async def test_login_omits_expiry_when_disabled(
    make_simulator: MakeSimulator, make_simulator_server: MakeSimulatorServer
) -> None:
    """A simulator of a pre-2025.1 server sends no Token-Expires-In."""
    server = await make_simulator_server(make_simulator(send_token_expiry=False))
    async with (
        aiohttp.ClientSession() as client,
        client.post(server.make_url(LOGIN), headers={"Authorization": GOOD_BASIC}) as resp,
    ):
        assert resp.status == 200
        assert "Token-Expires-In" not in resp.headers


@pytest.mark.parametrize(
    ("headers", "status", "challenge"),
    [
        ({}, 401, True),
        ({"Authorization": "Bearer abc"}, 401, True),
        ({"Authorization": basic_auth_header("ol-admin", "wrong")}, 401, False),
        ({"Authorization": basic_auth_header("someone", "secret")}, 401, False),
        ({"Authorization": "Basic !!not-base64!!"}, 401, False),
        ({"Authorization": "Basic bm9jb2xvbg=="}, 401, False),  # "nocolon"
    ],
)
async def test_login_failures(
    session: aiohttp.ClientSession, headers: dict[str, str], status: int, challenge: bool
) -> None:
    """Missing Basic credentials answer 401 with a challenge; wrong ones 401 and a JSON Error,
    the one refusal the vendor's client handles on login (FIDELITY B10)."""
    async with session.post(LOGIN, headers=headers) as resp:
        assert resp.status == status
        assert (resp.headers.get("WWW-Authenticate") == "BASIC") is challenge
        await error_of(resp)


async def test_login_rejected_while_reject_logins(
    session: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """`reject_logins` makes even good credentials answer 401."""
    simulator.reject_logins = True
    async with session.post(LOGIN, headers={"Authorization": GOOD_BASIC}) as resp:
        assert resp.status == 401
        await error_of(resp)


@pytest.mark.parametrize(
    ("headers", "status", "challenge"),
    [
        ({}, 401, True),
        ({"Authorization": "Bearer abc"}, 401, True),
        ({"auth_token": "not-a-token"}, 401, True),
        ({"Authorization": basic_auth_header("ol-admin", "wrong")}, 401, True),
        ({"Authorization": "Basic !!not-base64!!"}, 401, True),
        ({"Authorization": GOOD_BASIC}, 200, False),
    ],
)
async def test_request_auth_modes(
    session: aiohttp.ClientSession, headers: dict[str, str], status: int, challenge: bool
) -> None:
    """Routes take a token or Basic credentials and refuse, as OL Connect 2023.2+ does, with
    401, a JSON Error and the Basic challenge whatever the reason (FIDELITY B11)."""
    async with session.get(f"{SEGMENTS}/7", headers=headers) as resp:
        assert resp.status == status
        assert (resp.headers.get("WWW-Authenticate") == "BASIC") is challenge
        if status != 200:
            await error_of(resp)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"auth_token": "not-a-token"}, 403),
        ({"Authorization": basic_auth_header("ol-admin", "wrong")}, 403),
    ],
)
async def test_request_auth_modes_legacy(
    make_simulator: MakeSimulator,
    make_simulator_server: MakeSimulatorServer,
    headers: dict[str, str],
    status: int,
) -> None:
    """`auth_errors=legacy` keeps the split of OL Connect up to 2022: 403 for an invalid
    credential, 401 for a missing one or (below) an expired token."""
    sim = make_simulator(auth_errors=AuthErrors.LEGACY)
    server = await make_simulator_server(sim)
    async with (
        aiohttp.ClientSession() as client,
        client.get(server.make_url(f"{SEGMENTS}/7"), headers=headers) as resp,
    ):
        assert resp.status == status
        assert ("WWW-Authenticate" in resp.headers) is (status == 401)
    token = sim.issue_token()
    sim.expire_all_tokens()
    async with (
        aiohttp.ClientSession() as client,
        client.get(server.make_url(f"{SEGMENTS}/7"), headers={"auth_token": token}) as resp,
    ):
        assert resp.status == 401
        assert "WWW-Authenticate" not in resp.headers


async def test_token_expires_after_lifetime(
    session: aiohttp.ClientSession, token: str, clock: FakeClock
) -> None:
    """A token works until `token_ttl` has passed on the clock, then answers 401."""
    clock.advance(3599)
    async with session.get(f"{SEGMENTS}/7", headers={"auth_token": token}) as resp:
        assert resp.status == 200
    clock.advance(1)
    async with session.get(f"{SEGMENTS}/7", headers={"auth_token": token}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "BASIC"
        assert "expired" in (await error_of(resp))["message"]


async def test_expire_all_tokens(
    session: aiohttp.ClientSession, token: str, simulator: Simulator
) -> None:
    """`expire_all_tokens()` makes every issued token answer 401 at once."""
    simulator.expire_all_tokens()
    async with session.get(f"{SEGMENTS}/7/metadata", headers={"auth_token": token}) as resp:
        assert resp.status == 401
        assert "expired" in (await error_of(resp))["message"]


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        (
            SEGMENTS,
            "text/plain",
            "Server Engine REST Service available: JobSegmentEntityRestService",
        ),
        (f"{SEGMENTS}/version", "text/plain", "2025.1.0"),
        (f"{SEGMENTS}/7", JSON, {"identifiers": [71, 72, 73]}),
        (
            f"{SEGMENTS}/7/metadata",
            JSON,
            [{"name": "customer", "value": "customer-7"}, {"name": "pages", "value": "1"}],
        ),
    ],
)
async def test_read_routes(
    session: aiohttp.ClientSession, token: str, path: str, content_type: str, expected: object
) -> None:
    """Each GET route answers its documented content type and the deterministic data."""
    async with session.get(path, headers={"auth_token": token}) as resp:
        assert resp.status == 200
        assert resp.content_type == content_type
        body = await resp.text()
        assert (json.loads(body) if content_type == JSON else body) == expected


async def test_version_route_wins_over_id(
    session: aiohttp.ClientSession, token: str, simulator: Simulator
) -> None:
    """`/jobsegments/version` is the version route, never a segment id."""
    async with session.get(f"{SEGMENTS}/version", headers={"auth_token": token}) as resp:
        assert resp.status == 200
    assert simulator.calls["version"] == 1
    assert simulator.calls["document_sets"] == 0


@pytest.mark.parametrize("segment_id", ["0", "101", "abc", "-1", "1.5", "99999999999999999999"])
@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("GET", "/metadata"), ("PUT", "/metadata")]
)
async def test_unknown_segment_is_404(
    session: aiohttp.ClientSession, token: str, segment_id: str, method: str, suffix: str
) -> None:
    """An id outside the data set, or not an integer, answers a 404 JSON Error naming it."""
    body = {"id": 0, "properties": []}
    path = f"{SEGMENTS}/{segment_id}{suffix}"
    async with session.request(method, path, headers={"auth_token": token}, json=body) as resp:
        assert resp.status == 404
        assert (await error_of(resp))["parameter"] == segment_id


async def test_put_metadata_round_trip(
    session: aiohttp.ClientSession, token: str, simulator: Simulator
) -> None:
    """A PUT replaces the properties, answers text/plain `true`, and a GET shows them."""
    new = [{"name": "status", "value": "printed"}]
    headers = {"auth_token": token}
    body = {"id": 9, "properties": new}
    async with session.put(f"{SEGMENTS}/9/metadata", headers=headers, json=body) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        assert await resp.text() == "true"
    async with session.get(f"{SEGMENTS}/9/metadata", headers=headers) as resp:
        assert await resp.json() == new
    assert simulator.metadata(9) == new
    assert simulator.document_sets(9) == [91, 92, 93]


async def test_put_metadata_id_mismatch_is_500(
    session: aiohttp.ClientSession, token: str, simulator: Simulator
) -> None:
    """A body id that differs from the path id answers 500, as OL Connect does."""
    body = {"id": 8, "properties": []}
    path = f"{SEGMENTS}/9/metadata"
    async with session.put(path, headers={"auth_token": token}, json=body) as resp:
        assert resp.status == 500
        assert (await error_of(resp))["parameter"] == "8"
    assert simulator.metadata(9)[0]["value"] == "customer-9"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"id": 9}',
        b'{"id": "9x", "properties": []}',
        b'{"id": true, "properties": []}',
        b'{"id": 9, "properties": {}}',
        b'{"id": 9, "properties": [{"name": "a"}]}',
        b'{"id": 9, "properties": [{"name": "a", "value": 1}]}',
        b'{"id": 9, "properties": [], "extra": 1}',
    ],
)
async def test_put_metadata_malformed_is_400(
    session: aiohttp.ClientSession, token: str, simulator: Simulator, body: bytes
) -> None:
    """A PUT body that is not JSON or not the Name/Value shape answers 400 and changes nothing."""
    before = simulator.metadata(9)
    path = f"{SEGMENTS}/9/metadata"
    async with session.put(path, headers={"auth_token": token}, data=body) as resp:
        assert resp.status == 400
        await error_of(resp)
    assert simulator.metadata(9) == before


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("DELETE", f"{SEGMENTS}/7", 405)],
)
async def test_unrouted_requests_answer_json_errors(
    session: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    """Paths and methods outside the API still answer a JSON Error."""
    async with session.request(method, path) as resp:
        assert resp.status == status
        await error_of(resp)


@pytest.mark.parametrize(("route", "path"), [("login", LOGIN), ("document_sets", f"{SEGMENTS}/7")])
async def test_latency_delays_answers(
    session: aiohttp.ClientSession, simulator: Simulator, route: str, path: str
) -> None:
    """`latency` plus `route_latency` delays the answer by at least their sum."""
    simulator.latency = 0.03
    simulator.route_latency[route] = 0.02
    loop = asyncio.get_running_loop()
    started = loop.time()
    method = "POST" if route == "login" else "GET"
    async with session.request(method, path, headers={"Authorization": GOOD_BASIC}) as resp:
        assert resp.status == 200
    assert loop.time() - started >= 0.05


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        (Fault.STATUS_500, 500, "text/html"),
        (Fault.PROXY_502, 502, "text/html"),
        (Fault.UNAUTHORIZED, 401, JSON),
        (Fault.TRUNCATED_JSON, 200, JSON),
        (Fault.NON_JSON, 200, "text/html"),
        (Fault.WRONG_CONTENT_TYPE, 200, "text/html"),
        (Fault.REDIRECT, 302, "application/octet-stream"),
    ],
)
async def test_faults_with_complete_answers(
    session: aiohttp.ClientSession,
    token: str,
    simulator: Simulator,
    fault: Fault,
    status: int,
    content_type: str,
) -> None:
    """Answer-shaped faults send a full HTTP message that a client must not trust."""
    simulator.fault = fault
    headers = {"auth_token": token}
    async with session.get(f"{SEGMENTS}/7", headers=headers, allow_redirects=False) as resp:
        assert resp.status == status
        assert resp.content_type == content_type
        body = await resp.read()
    if fault is Fault.TRUNCATED_JSON:
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
    if fault is Fault.REDIRECT:
        assert resp.headers["Location"] != f"{SEGMENTS}/7"


async def test_faults_spare_logins(session: aiohttp.ClientSession, simulator: Simulator) -> None:
    """A fault applies to job-segment routes only; logins still work."""
    simulator.fault = Fault.DROP
    async with session.post(LOGIN, headers={"Authorization": GOOD_BASIC}) as resp:
        assert resp.status == 200


async def test_fault_drop_closes_connection(
    session: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """DROP closes the connection without any answer."""
    simulator.fault = Fault.DROP
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await session.get(f"{SEGMENTS}/7", headers={"Authorization": GOOD_BASIC})


async def test_fault_reset_mid_body(session: aiohttp.ClientSession, simulator: Simulator) -> None:
    """RESET_MID_BODY sends the headers and part of the body, then closes."""
    simulator.fault = Fault.RESET_MID_BODY
    async with session.get(f"{SEGMENTS}/7", headers={"Authorization": GOOD_BASIC}) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_fault_hang_after_headers(
    session: aiohttp.ClientSession, simulator: Simulator, simulator_server: TestServer
) -> None:
    """HANG_AFTER_HEADERS sends headers and no body, and ends when the app closes."""
    simulator.fault = Fault.HANG_AFTER_HEADERS
    timeout = aiohttp.ClientTimeout(sock_read=0.1)
    headers = {"Authorization": GOOD_BASIC}
    async with session.get(f"{SEGMENTS}/7", headers=headers, timeout=timeout) as resp:
        assert resp.status == 200
        with pytest.raises(asyncio.TimeoutError):
            await resp.read()
    async with session.get(f"{SEGMENTS}/7", headers=headers) as resp:
        async with asyncio.timeout(2):
            await simulator_server.close()
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_counters_count_every_arrival(
    session: aiohttp.ClientSession, token: str, simulator: Simulator
) -> None:
    """Calls are counted per route on arrival, even when auth or a fault then fails them."""
    await (await session.get(f"{SEGMENTS}/7")).read()
    await (await session.get(f"{SEGMENTS}/7/metadata", headers={"auth_token": token})).read()
    simulator.fault = Fault.STATUS_500
    await (await session.get(f"{SEGMENTS}/7", headers={"auth_token": token})).read()
    assert simulator.calls == {"login": 1, "document_sets": 2, "metadata_get": 1}
    simulator.reset_counters()
    assert not simulator.calls


SEED = {
    "segments": {
        "42": {"document_sets": [7, 8], "metadata": [{"name": "k", "value": "v"}]},
        "5000": {"document_sets": [1]},
    }
}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
async def test_seed_file_overrides_and_adds_segments(
    tmp_path: Path,
    suffix: str,
    make_simulator: MakeSimulator,
    make_simulator_server: MakeSimulatorServer,
) -> None:
    """A YAML or JSON seed file overrides segments and adds ones beyond the range."""
    path = tmp_path / f"seed{suffix}"
    path.write_text(json.dumps(SEED) if suffix == ".json" else yaml.safe_dump(SEED))
    sim = make_simulator(seed=load_seed(path))
    assert sim.document_sets(42) == [7, 8]
    assert sim.metadata(42) == [{"name": "k", "value": "v"}]
    assert sim.metadata(5000)[0] == {"name": "customer", "value": "customer-5000"}
    server = await make_simulator_server(sim)
    async with (
        aiohttp.ClientSession(headers={"Authorization": GOOD_BASIC}) as client,
        client.get(server.make_url(f"{SEGMENTS}/5000")) as resp,
    ):
        assert await resp.json() == {"identifiers": [1]}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("segments: [1, 2]", "segments:"),
        ("- 1\n- 2", "top level"),
        ("other: 1", "other: unknown key"),
        ("segments: {abc: {}}", "segments.abc:"),
        ("segments: {'0': {}}", "segments.0:"),
        ("segments: {1: {document_sets: [a]}}", "segments.1.document_sets:"),
        ("segments: {1: {metadata: [{name: a, value: 1}]}}", "segments.1.metadata[0]:"),
        ("segments: {1: {colour: red}}", "segments.1.colour: unknown key"),
        ("segments: {1: [", "not valid YAML"),
    ],
)
def test_load_seed_rejects_bad_content(tmp_path: Path, text: str, needle: str) -> None:
    """A bad seed file raises one line of ValueError naming the file and the problem."""
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"seed\.yaml") as info:
        load_seed(path)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_load_seed_rejects_missing_file_and_bad_json(tmp_path: Path) -> None:
    """A missing file and broken JSON raise ValueError too."""
    with pytest.raises(ValueError, match="cannot read"):
        load_seed(tmp_path / "absent.yaml")
    (tmp_path / "seed.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_seed(tmp_path / "seed.json")


def test_simulator_accessors_reject_unknown_ids(simulator: Simulator) -> None:
    """The in-process accessors raise KeyError for an unknown segment."""
    with pytest.raises(KeyError):
        simulator.metadata(101)
    with pytest.raises(KeyError):
        simulator.document_sets(0)


async def test_controls_hidden_by_default(
    session: aiohttp.ClientSession, simulator_server: TestServer, simulator: Simulator
) -> None:
    """Without `expose_controls`, `/_sim/*` answers 404; the app still holds the simulator."""
    assert simulator_server.app is not None
    assert simulator_server.app[SIMULATOR_KEY] is simulator
    for method, path in [("GET", "/_sim/calls"), ("POST", "/_sim/reset")]:
        async with session.request(method, path) as resp:
            assert resp.status == 404


async def test_controls_when_exposed(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer, token: str
) -> None:
    """With `expose_controls`, `/_sim/*` drives faults, counters, tokens and resets."""
    server = await make_simulator_server(simulator, expose_controls=True)
    async with aiohttp.ClientSession(base_url=server.make_url("")) as client:
        settings = {"fault": "status_500", "latency": 0.01, "reject_logins": True}
        async with client.put("/_sim/fault", json=settings) as resp:
            assert resp.status == 200
        assert (simulator.fault, simulator.latency, simulator.reject_logins) == (
            Fault.STATUS_500,
            0.01,
            True,
        )
        async with client.put("/_sim/fault", json={"fault": "bogus"}) as resp:
            assert resp.status == 400
        async with client.get(f"{SEGMENTS}/7", headers={"auth_token": token}) as resp:
            assert resp.status == 500
        async with client.get("/_sim/calls") as resp:
            calls = await resp.json()
            assert calls["document_sets"] == 1
            assert calls["metadata_put"] == 0
        async with client.post("/_sim/expire-tokens") as resp:
            assert resp.status == 200
        async with client.post("/_sim/reset") as resp:
            assert resp.status == 200
        assert simulator.fault is None
        assert not simulator.reject_logins
        assert not simulator.calls
        async with client.get(f"{SEGMENTS}/7", headers={"auth_token": token}) as resp:
            assert resp.status == 401


@pytest.mark.parametrize(
    "body",
    [
        {"latency": -1},
        {"latency": "1"},
        {"reject_logins": 1},
        {"route_latency": {"nope": 1}},
        {"other": 1},
    ],
)
async def test_control_fault_rejects_bad_bodies(
    simulator: Simulator, make_simulator_server: MakeSimulatorServer, body: dict[str, Any]
) -> None:
    """`PUT /_sim/fault` refuses bad settings with 400 and changes nothing."""
    server = await make_simulator_server(simulator, expose_controls=True)
    async with (
        aiohttp.ClientSession() as client,
        client.put(server.make_url("/_sim/fault"), json=body) as resp,
    ):
        assert resp.status == 400
    assert (simulator.fault, simulator.latency, simulator.route_latency) == (None, 0.0, {})
