"""Job-segment, login and admin routes: answers, error rows of SPEC §5, pass-through."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import key_header

from gateway.simulator import Fault, Simulator

SEGMENTS = "/rest/serverengine/entity/jobsegments"
READER = key_header("reader")
WRITER = key_header("writer")


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """Assert `status` and the OL Connect JSON Error shape; return the error object."""
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "message", "parameter"}
    assert body["error"]["status"] == status
    error: dict[str, Any] = body["error"]
    return error


async def test_document_sets_answer_the_identifier_list(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """GET {id} answers the upstream Identifier List with its Content-Type."""
    response = await gateway.get(f"{SEGMENTS}/42", headers=READER)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {"identifiers": simulator.document_sets(42)}


async def test_metadata_answers_the_name_value_list(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """GET {id}/metadata answers the upstream Name/Value list."""
    response = await gateway.get(f"{SEGMENTS}/42/metadata", headers=READER)
    assert response.status == 200
    assert await response.json() == simulator.metadata(42)


@pytest.mark.parametrize(("path", "route"), [("", "handshake"), ("/version", "version")])
async def test_service_info_routes_keep_body_and_content_type(
    gateway: TestClient[Any, Any], simulator: Simulator, path: str, route: str
) -> None:
    """Handshake and version keep the upstream body and Content-Type, cached (SPEC §8.5)."""
    outcomes = []
    for _ in range(2):
        response = await gateway.get(SEGMENTS + path, headers=READER)
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text()
        outcomes.append(response.headers["X-Cache"])
    assert outcomes == ["MISS", "HIT"]
    assert simulator.calls[route] == 1


@pytest.mark.parametrize(
    "raw_id",
    [
        "abc",
        "0",
        "-1",
        "1.5",
        "1e3",
        "%D9%A1%D9%A2%D9%A3",  # Arabic-Indic digits ١٢٣
        "%EF%BC%91",  # fullwidth digit one
        "12345678901234567890",  # 20 digits
        "9223372036854775808",  # 2^63
        "%20%201",
        "0x10",
    ],
)
@pytest.mark.parametrize("suffix", ["", "/metadata"])
async def test_bad_ids_are_400_without_upstream_call(
    gateway: TestClient[Any, Any], simulator: Simulator, raw_id: str, suffix: str
) -> None:
    """An id that is not a decimal integer in 1..2^63-1 is a 400, and nothing goes upstream."""
    response = await gateway.get(f"{SEGMENTS}/{raw_id}{suffix}", headers=READER)
    await error_of(response, 400)
    assert sum(simulator.calls.values()) == 0


async def test_largest_valid_id_reaches_the_upstream(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """2^63-1 is a valid id: the upstream is asked and its 404 comes back."""
    response = await gateway.get(f"{SEGMENTS}/9223372036854775807", headers=READER)
    error = await error_of(response, 404)
    assert error["parameter"] == "9223372036854775807"
    assert simulator.calls["document_sets"] == 1


@pytest.mark.parametrize("suffix", ["", "/metadata"])
async def test_upstream_404_is_404(
    gateway: TestClient[Any, Any], simulator: Simulator, suffix: str
) -> None:
    """An id the upstream does not know answers 404 with the JSON Error."""
    response = await gateway.get(f"{SEGMENTS}/5000{suffix}", headers=READER)
    error = await error_of(response, 404)
    assert error["parameter"] == "5000"


async def test_put_metadata_round_trip(gateway: TestClient[Any, Any], simulator: Simulator) -> None:
    """A valid PUT reaches the upstream, answers `true` text/plain, and is read back."""
    properties = [{"name": "customer", "value": "ACME"}, {"name": "pages", "value": "9"}]
    before = await gateway.get(f"{SEGMENTS}/8/metadata", headers=READER)
    assert before.status == 200
    response = await gateway.put(
        f"{SEGMENTS}/8/metadata", json={"id": 8, "properties": properties}, headers=WRITER
    )
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "true"
    assert simulator.metadata(8) == properties
    after = await gateway.get(f"{SEGMENTS}/8/metadata", headers=READER)
    assert await after.json() == properties


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b"{not json", ""),
        (b"", ""),
        (b'{"id": 9, "properties": []}', "id"),
        (b'{"id": "8", "properties": []}', "id"),
        (b'{"id": true, "properties": []}', "id"),
        (b'{"properties": []}', "id"),
        (b'[{"id": 8}]', "id"),
        (b'{"id": 8}', "properties"),
        (b'{"id": 8, "properties": [{"name": "a"}]}', "properties"),
        (b'{"id": 8, "properties": [{"name": "a", "value": 1}]}', "properties"),
        ('{"id": 8, "properties": "\udc80"}'.encode("utf-8", "surrogatepass"), ""),
    ],
)
async def test_put_invalid_body_is_400_and_not_sent(
    gateway: TestClient[Any, Any], simulator: Simulator, body: bytes, parameter: str
) -> None:
    """A PUT body that is not JSON, or has the wrong id or shape, is a 400 and is not sent."""
    response = await gateway.put(
        f"{SEGMENTS}/8/metadata",
        data=body,
        headers={**WRITER, hdrs.CONTENT_TYPE: "application/json"},
    )
    error = await error_of(response, 400)
    assert error["parameter"] == parameter
    assert simulator.calls["metadata_put"] == 0


async def test_put_over_one_mebibyte_is_413(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """A PUT body over 1 MiB (declared length) is a 413 and never reaches the upstream."""
    filler = "x" * (1024 * 1024)
    body = json.dumps({"id": 8, "properties": [{"name": "big", "value": filler}]}).encode()
    response = await gateway.put(f"{SEGMENTS}/8/metadata", data=io.BytesIO(body), headers=WRITER)
    await error_of(response, 413)
    assert simulator.calls["metadata_put"] == 0


async def test_put_chunked_over_one_mebibyte_is_413(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """A chunked PUT body that grows past 1 MiB is refused with 413 while it streams."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"id": 8, "properties": [{"name": "big", "value": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}]}'

    response = await gateway.put(f"{SEGMENTS}/8/metadata", data=chunks(), headers=WRITER)
    await error_of(response, 413)
    assert simulator.calls["metadata_put"] == 0


async def test_put_unknown_segment_is_404(gateway: TestClient[Any, Any]) -> None:
    """A PUT for an id the upstream does not know answers 404."""
    response = await gateway.put(
        f"{SEGMENTS}/5000/metadata", json={"id": 5000, "properties": []}, headers=WRITER
    )
    await error_of(response, 404)


async def test_put_upstream_failure_is_502(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """A PUT the upstream fails with a 5xx answers 502."""
    simulator.fault = Fault.STATUS_500
    response = await gateway.put(
        f"{SEGMENTS}/8/metadata", json={"id": 8, "properties": []}, headers=WRITER
    )
    error = await error_of(response, 502)
    assert "500" not in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/rest/serverengine/entity/jobsegments/1/documents", 404),
        ("TRACE", f"{SEGMENTS}/1", 405),
        ("PROPFIND", f"{SEGMENTS}/1/metadata", 405),
        ("GET", "/rest/serverengine/authentication/login", 405),
        ("GET", "/rest/serverengine/nosuchservice/1", 404),
        ("GET", "/rest/serverengine/entity/nosuchfamily/1", 404),
        ("GET", "/rest/serverengine/authentication/logout", 404),
        ("GET", "/rest/other/entity/jobs/1", 404),
    ],
)
async def test_unknown_routes_and_methods_answer_json_errors(
    gateway: TestClient[Any, Any], method: str, path: str, status: int
) -> None:
    """Unknown paths are 404 and wrong methods 405 with Allow, both as JSON Errors."""
    response = await gateway.request(method, path, headers=READER)
    await error_of(response, status)
    if status == 405:
        assert hdrs.ALLOW in response.headers


async def test_admin_purge_segment_drops_both_entries(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """DELETE /admin/cache/jobsegments/{id} makes both routes of that id refetch."""
    for path in (f"{SEGMENTS}/3", f"{SEGMENTS}/3/metadata", f"{SEGMENTS}/4"):
        await gateway.get(path, headers=READER)
    response = await gateway.delete("/admin/cache/jobsegments/3", headers=key_header("admin"))
    assert response.status == 204
    for path, outcome in (
        (f"{SEGMENTS}/3", "MISS"),
        (f"{SEGMENTS}/3/metadata", "MISS"),
        (f"{SEGMENTS}/4", "HIT"),
    ):
        assert (await gateway.get(path, headers=READER)).headers["X-Cache"] == outcome


async def test_admin_purge_all_drops_everything(gateway: TestClient[Any, Any]) -> None:
    """DELETE /admin/cache makes every entry refetch."""
    for n in (1, 2):
        await gateway.get(f"{SEGMENTS}/{n}", headers=READER)
    assert (await gateway.delete("/admin/cache", headers=key_header("admin"))).status == 204
    for n in (1, 2):
        assert (await gateway.get(f"{SEGMENTS}/{n}", headers=READER)).headers["X-Cache"] == "MISS"


async def test_admin_purge_rejects_bad_ids(gateway: TestClient[Any, Any]) -> None:
    """The admin purge validates ids like every other route."""
    response = await gateway.delete("/admin/cache/jobsegments/x1", headers=key_header("admin"))
    await error_of(response, 400)


@pytest.mark.parametrize("suffix", ["", "/metadata"])
async def test_ids_with_leading_zeros_are_one_entry(
    gateway: TestClient[Any, Any], simulator: Simulator, suffix: str
) -> None:
    """`0042` and `42` are the same segment: one upstream call, asked with the canonical id."""
    first = await gateway.get(f"{SEGMENTS}/42{suffix}", headers=READER)
    second = await gateway.get(f"{SEGMENTS}/0042{suffix}", headers=READER)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert await first.read() == await second.read()
    assert simulator.calls["document_sets" if not suffix else "metadata_get"] == 1


async def test_put_metadata_of_an_unknown_segment_is_404_naming_it(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """OL Connect's 404 for a write to a segment it does not know: the gateway's 404,
    naming the segment."""
    response = await gateway.put(
        f"{SEGMENTS}/99999/metadata", json={"id": 99999, "properties": []}, headers=WRITER
    )
    error = await error_of(response, 404)
    assert (error["message"], error["parameter"]) == ("job segment not found", "99999")
    assert simulator.calls["metadata_put"] == 1


@pytest.mark.parametrize(
    ("path", "noun"),
    [(f"{SEGMENTS}/abc", "job segment"), ("/rest/serverengine/entity/jobs/0/metadata", "job")],
)
async def test_bad_entity_id_is_400_naming_the_entity(
    gateway: TestClient[Any, Any], simulator: Simulator, path: str, noun: str
) -> None:
    """An `{id}` that is no entity id is a 400 that says which entity it should name."""
    error = await error_of(await gateway.get(path, headers=READER), 400)
    assert error["message"] == f"{noun} id must be a decimal integer in 1..2^63-1"
    assert sum(simulator.calls.values()) == 0
