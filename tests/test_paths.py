"""Paths (SPEC §10.6, issue 23 F1): one normalisation, before routing, scopes and the cache.

Every spelling a servlet container could resolve elsewhere is a 400 JSON Error with no
upstream call, whatever the key; a trailing slash is the path without it, route
included. Raw sockets send what aiohttp's client would requote.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import KEYS, key_header
from test_hostile import Serve, exchange, request, serve  # noqa: F401 - serve: a fixture

from gateway.simulator import Simulator

# These tests read one answer per fresh connection and time nothing: a client_timeout
# of 0.5 s (the hostile tests' slow-header bound) could close a connection whose request
# a loaded machine had not read yet, and the test would see a reset, not the 400.
PATIENT = {"client_timeout": 10}

BASE = "/rest/serverengine"
ADMIN = KEYS["admin"]
JOBS = f"{BASE}/entity/jobs"
DELETE_7 = "filestore/delete/7"

# Issue 23 F1 and SPEC §10.6, each spelling of each trick; every one is a 400, never forwarded.
REFUSED = [
    f"{JOBS}/..;/..;/{DELETE_7}",  # Tomcat: ..; is ..
    f"{BASE}/entity/jobsegments/..;/..;/{DELETE_7}",
    f"{JOBS}/.;x/..;x/..;x/{DELETE_7}",  # behind path parameters
    f"{JOBS}/..;jsessionid=1/..;/{DELETE_7}",
    f"{JOBS}/%u002e%u002e/%u002e%u002e/{DELETE_7}",  # Jetty's %u
    f"{JOBS}/%U002E%U002E/{DELETE_7}",
    f"{JOBS}/%u002f",
    f"{JOBS}/../../{DELETE_7}",
    f"{JOBS}/%2e%2e/%2e%2e/{DELETE_7}",
    f"{JOBS}/%2E%2E/%2E%2E/{DELETE_7}",
    f"{JOBS}/.%2e/.%2e/{DELETE_7}",
    f"{JOBS}/%252e%252e/%252e%252e/{DELETE_7}",  # twice encoded
    f"{JOBS}/%c0%ae%c0%ae/%c0%ae%c0%ae/{DELETE_7}",  # overlong UTF-8
    f"{JOBS}/%e0%80%ae%e0%80%ae/{DELETE_7}",
    f"{JOBS}/%ef%bc%8e%ef%bc%8e/{DELETE_7}",  # fullwidth full stops
    f"{JOBS}/./5",
    f"{JOBS}/5/.",
    f"{JOBS}/...",  # only dots: Windows reads it as a dot segment
    f"{JOBS}/..%20/{DELETE_7}",
    f"{JOBS}/5;x",  # ; in any segment, raw or encoded
    f"{JOBS};/5",
    f"{JOBS}/5%3bx",
    f"{JOBS}/..%2f..%2f{DELETE_7.replace('/', '%2f')}",  # encoded /
    f"{JOBS}/..%2F..%2Ffilestore",
    f"{JOBS}/..%252f..%252ffilestore",  # twice encoded /
    f"{JOBS}/..%5c..%5cfilestore%5cdelete%5c7",  # encoded \\
    f"{JOBS}/..%255c..%255cfilestore",
    f"{JOBS}/..\\..\\filestore\\delete\\7",  # raw \\
    f"{JOBS}/%ff",  # not UTF-8
    f"{JOBS}/%c0%af",  # overlong /
    f"{JOBS}/%ed%a0%80",  # a surrogate
    f"{JOBS}/5%",  # a broken escape
    f"{JOBS}/%2",
    f"{JOBS}/5%00",
    f"{JOBS}/5%0a",
    f"{JOBS}//5",
    f"{JOBS}/5//",
    f"{JOBS}/5%7c",  # outside the allow-list
    f"{JOBS}/5?_method=DELETE",  # a method override filter would run another method
    f"{JOBS}/5?a=1&%5Fmethod=DELETE",
    f"http://evil.example{JOBS}/../../{DELETE_7}",  # absolute form: yarl would resolve it
]


@pytest.mark.parametrize("path", REFUSED)
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
async def test_paths_every_spelling_of_a_trick_is_400_and_never_forwarded(
    serve: Serve,  # noqa: F811 - the fixture imported above
    simulator: Simulator,
    method: str,
    path: str,
) -> None:
    """A dot segment, `;`, an encoded slash or backslash, `%u`, bad UTF-8: 400, no upstream."""
    server = await serve(server=PATIENT)
    answer = await exchange(server, request(method, path, key=ADMIN), head=method == "HEAD")
    assert answer.status == 400
    if method != "HEAD":
        assert answer.error()["parameter"] == "path"
    assert sum(simulator.calls.values()) == 0


async def test_paths_a_read_key_cannot_reach_file_store_through_dot_semicolon(
    serve: Serve,  # noqa: F811
    simulator: Simulator,
) -> None:
    """Issue 23 F1: `entity/jobs/..;/..;/filestore/delete/{id}` with a read key deletes nothing."""
    file_id = simulator.generate_file("keep.bin", 5)
    server = await serve(server=PATIENT)
    for path in (
        f"{JOBS}/..;/..;/filestore/delete/{file_id}",
        f"{JOBS}/%u002e%u002e/%u002e%u002e/filestore/delete/{file_id}",
    ):
        answer = await exchange(server, request("GET", path, key=KEYS["reader"]))
        assert answer.status == 400
    assert simulator.files.find(str(file_id)) is not None
    assert sum(simulator.calls.values()) == 0


async def test_paths_write_key_cannot_skip_the_validated_put_with_dot_semicolon(
    serve: Serve,  # noqa: F811
    simulator: Simulator,
) -> None:
    """`PUT jobsegments/5/..;/5/metadata` would reach OL Connect's metadata PUT unvalidated: 400."""
    server = await serve(server=PATIENT)
    body = b'{"id": 6, "properties": "not a list"}'
    for path in (
        f"{BASE}/entity/jobsegments/5/..;/5/metadata",
        f"{BASE}/entity/jobsegments/6;/metadata",
        f"{BASE}/entity/jobsegments/x/%2e%2e/6/metadata",
    ):
        answer = await exchange(server, request("PUT", path, key=KEYS["writer"], body=body))
        assert answer.status == 400, path
        assert answer.error()["parameter"] == "path"
    assert sum(simulator.calls.values()) == 0


async def test_paths_trailing_slash_on_a_service_root_is_the_handshake(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """`GET filestore/` (the C# client's handshake) is the cached handshake: one upstream call,
    sent without the slash, shared with `GET filestore`."""
    async with gateway.get(f"{BASE}/filestore/", headers=key_header("reader")) as answer:
        assert answer.status == 200
        assert answer.headers["X-Cache"] == "MISS"
        assert "FileStoreRestService" in await answer.text()
    async with gateway.get(f"{BASE}/filestore", headers=key_header("reader")) as answer:
        assert answer.headers["X-Cache"] == "HIT"
    assert simulator.calls["filestore.handshake"] == 1
    assert simulator.last_request["filestore.handshake"].raw_path == f"{BASE}/filestore"


async def test_paths_trailing_slash_is_the_route_without_it(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """One trailing slash routes as the path without it: the validated PUT stays validated,
    the cached read stays cached, a forwarded POST goes up without the slash."""
    writer = key_header("writer")
    async with gateway.put(
        f"{BASE}/entity/jobsegments/5/metadata/", data=b"not json", headers=writer
    ) as answer:
        assert answer.status == 400
        assert (await answer.json())["error"]["message"] == "body is not valid JSON"
    assert simulator.calls["metadata_put"] == 0
    async with gateway.get(f"{BASE}/entity/jobsegments/5/", headers=writer) as answer:
        assert answer.status == 200
        assert answer.headers["X-Cache"] == "MISS"
    assert simulator.last_request["document_sets"].raw_path == f"{BASE}/entity/jobsegments/5"
    async with gateway.post(
        f"{BASE}/filestore/DataFile/?filename=a.csv", data=b"a,b\n", headers=key_header("admin")
    ) as answer:
        assert answer.status == 200, await answer.text()
    seen = simulator.last_request["filestore.upload"].raw_path
    assert seen == f"{BASE}/filestore/DataFile?filename=a.csv"


async def test_paths_names_with_spaces_and_letters_are_forwarded_as_spelled(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """Allowed characters pass: a space and a non-ASCII letter, percent-encoded, go upstream."""
    admin = key_header("admin")
    name = "%C3%84rger%20(1).csv"  # "Ärger (1).csv"
    async with gateway.post(
        f"{BASE}/filestore/DataFile?filename={name}", data=b"x", headers=admin
    ) as answer:
        assert answer.status == 200
    async with gateway.get(f"{BASE}/filestore/file/{name}", headers=admin) as answer:
        assert answer.status == 200, await answer.text()
        assert await answer.read() == b"x"
    assert simulator.last_request["filestore.download"].raw_path.endswith(name)
