"""Real clients as tests (issue 19 item 4): every call the vendor's Node client (V) and the
Workflow/browser rest.js (R) make, made the way they make it, through the gateway with an
admin-like key sent as `auth_token`, against the simulator; each checked with the client's
own success condition — or, for the calls that cannot succeed against a correct server,
checked to fail the way OL Connect fails them.

The calls and their sources are tests/real_clients.yaml; the client versions checked are in
docs/api.md → Using the whole API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from real_clients import BY_ID, CONTENT, ROWS, Answer, World
from schema_check import answer_problems, request_problems

Client = TestClient[Any, Any]
JSON_TYPE = "application/json"


class ClientCannotRead(AssertionError):
    """The client's reader fails on what the server answered."""


def _parsed(row: dict[str, Any], answer: Answer) -> Any:
    """How each client reads JSON: V parses the body whatever its label (`body.json`); R
    only when `Content-Type` is exactly `application/json` (`rest.js` getResult)."""
    if row["client"] == "R" and answer.headers.get("Content-Type") != JSON_TYPE:
        raise ClientCannotRead(f"rest.js reads {answer.headers.get('Content-Type')} as text")
    try:
        return json.loads(answer.body)
    except ValueError as exc:
        raise ClientCannotRead(f"not JSON: {answer.text[:80]}") from exc


def _parse_int(text: str) -> int:
    """JavaScript's Number.parseInt: the leading digits."""
    digits = re.match(r"\s*(\d+)", text)
    if digits is None:
        raise ClientCannotRead(f"parseInt({text[:40]!r}) is NaN")
    return int(digits.group(1))


def _name_values(row: dict[str, Any], answer: Answer) -> dict[str, str]:
    """V's flattenNameValueList: `[{name, value}]` → `{name: value}` (a TypeError otherwise)."""
    data = _parsed(row, answer)
    if not isinstance(data, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in data
    ):
        raise ClientCannotRead(f"not a Name/Value list: {data!r:.80}")
    return {p["name"]: p["value"] for p in data}


def _identifiers(row: dict[str, Any], answer: Answer) -> list[Any]:
    data = _parsed(row, answer)
    if not isinstance(data, dict) or not isinstance(data.get("identifiers"), list):
        raise ClientCannotRead(f"no identifiers: {data!r:.80}")
    return list(data["identifiers"])


def _progress(row: dict[str, Any], answer: Answer) -> str:
    if row["client"] == "V" and answer.status == 404:
        return "done"  # the fork's patch 4: OL Connect forgets a finished operation
    value = answer.text
    if value != "done" and not (value.isdigit() and 0 <= int(value) <= 100):
        raise ClientCannotRead(f"progress {value!r}")
    return value


def _operation_id(row: dict[str, Any], answer: Answer) -> str:
    label = answer.headers.get("Content-Type")
    if row["client"] == "R" and label in (JSON_TYPE, "application/octet-stream"):
        raise ClientCannotRead(f"rest.js reads a 202 labelled {label} as its body")
    value = answer.headers.get("operationId", "")
    if not value:
        raise ClientCannotRead("no operationId header")
    return value


def _boolean(row: dict[str, Any], answer: Answer) -> bool:
    if answer.text not in ("true", ""):
        raise ClientCannotRead(f"not a true answer: {answer.text!r}")
    return True


def _version(row: dict[str, Any], answer: Answer) -> str:
    year, _, minor = answer.text.partition(".")
    if not (year.isdigit() and int(year) >= 2024 and minor[:1].isdigit()):
        raise ClientCannotRead(f"version {answer.text!r} gates off the 2024.1+ features")
    return answer.text


def _download(row: dict[str, Any], answer: Answer) -> bytes:
    disposition = answer.headers.get("Content-Disposition", "")
    if "filename=" not in disposition or "OL-Original-Filename" not in answer.headers:
        raise ClientCannotRead(f"no file name: {dict(answer.headers)}")
    assert answer.body == CONTENT["csv"]
    return answer.body


def _image(row: dict[str, Any], answer: Answer) -> bytes:
    label = answer.headers.get("Content-Type", "")
    if not (label.startswith("image/") or label == "application/zip") or not answer.body:
        raise ClientCannotRead(f"not an image: {label}")
    assert "filename=" in answer.headers.get("Content-Disposition", "")
    return answer.body


def _keys(*keys: str) -> Callable[[dict[str, Any], Answer], Any]:
    def read(row: dict[str, Any], answer: Answer) -> Any:
        data = json.loads(answer.text) if row["client"] == "V" else _parsed(row, answer)
        if not isinstance(data, dict) or not set(keys) <= set(data):
            raise ClientCannotRead(f"expected {keys}: {answer.text[:80]}")
        return data

    return read


EXTRACT: dict[str, Callable[[dict[str, Any], Answer], Any]] = {
    "token": lambda row, a: a.text.strip() or _fail("empty token"),
    "status_only": lambda row, a: a.status,
    "version": _version,
    "progress": _progress,
    "none": lambda row, a: None,
    "ignored": lambda row, a: None,
    "operation_id": _operation_id,
    "boolean": _boolean,
    "text": lambda row, a: a.text,
    "file_id": lambda row, a: _parse_int(a.text),
    "entity_id": lambda row, a: _parse_int(a.text),
    "html": lambda row, a: a.text if "<" in a.text else _fail("not HTML"),
    "bytes": lambda row, a: a.body or _fail("empty body"),
    "image": _image,
    "download": _download,
    "json": _parsed,
    "identifiers": _identifiers,
    "items": lambda row, a: [(i["item"], i["record"]) for i in _identifiers(row, a)],
    "record": lambda row, a: int(_parsed(row, a)["record"]),
    "name_values": _name_values,
    "find": lambda row, a: [list(group) for group in _parsed(row, a)],
    "email_output": _keys("messages", "contentSet", "errors"),
    "managed": _keys("identifier", "files"),
    "validation": _keys("result", "recordcount"),
}


def _fail(reason: str) -> Any:
    raise ClientCannotRead(reason)


async def _succeeds(row: dict[str, Any], answer: Answer, world: World) -> Any:
    expect = row["expect"]
    assert answer.status in expect["status"], (answer.status, answer.text[:300])
    for name in expect.get("headers", []):
        if not name.startswith("X-"):  # V reads the X-*-Set-ID headers as optional
            assert name in answer.headers, name
    value = EXTRACT[expect["extract"]](row, answer)
    if expect["extract"] == "token" and row["client"] == "V":
        assert int(answer.headers["Token-Expires-In"]) > 0
    if expect["extract"] == "progress" and row["client"] == "V":
        for _ in range(10):  # V's loop: poll until done; a 404 after done means done
            if value == "done":
                break
            answer = await world.call(row)
            assert answer.status in expect["status"]
            value = _progress(row, answer)
        assert value == "done"
    return value


def _bodies_match_the_document(row: dict[str, Any], world: World) -> None:
    """Every JSON body sent (the starts a call needed too) is described by its route's
    request schema and fits it — but the body that makes a call fail; every JSON answer fits
    its route's response schema (issue 19 item 6: schemas, simulator and clients agree)."""
    for sent, answer in world.sent:
        if sent.body is not None:
            problems = request_problems(sent.method, sent.path, sent.body)
            assert problems is not None, f"{sent.method} {sent.path} takes JSON: undescribed"
            own = sent is world.sent[-1][0]
            if own and "fails" in row and answer.status == 500:
                assert problems, f"{row['id']}: a body OL Connect refuses fits the schema"
            else:
                assert problems == [], (row["id"], sent.path, problems)
        label = answer.headers.get("Content-Type")
        problems = answer_problems(sent.method, sent.path, answer.status, label, answer.body)
        if label == JSON_TYPE and answer.status < 300:
            assert problems is not None, f"{sent.method} {sent.path} answers JSON: undescribed"
        assert not problems, (row["id"], sent.path, problems)


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
async def test_real_client_call(gateway: Client, row: dict[str, Any]) -> None:
    """One call of a real client, through the gateway, judged as that client judges it; its
    bodies held to /openapi.json."""
    world = World(gateway)
    answer = await world.call(row)
    _bodies_match_the_document(row, world)
    if "fails" in row:
        assert answer.status in row["fails"]["status"], (answer.status, answer.text[:300])
        error = json.loads(answer.body)["error"]  # OL Connect's JSON Error, passed back
        assert error["status"] == answer.status
        return
    if "client_fails" in row:
        assert answer.status in row["expect"]["status"]
        with pytest.raises(ClientCannotRead):
            EXTRACT[row["expect"]["extract"]](row, answer)
        return
    await _succeeds(row, answer, world)


def test_table_counts_and_sources() -> None:
    """The table holds every call of both clients (V1..V107, R1..R102) once, with the calls
    that cannot succeed named and explained."""
    ids = [row["id"] for row in ROWS]
    assert len(ids) == len(set(ids))
    assert {f"V{n}" for n in range(1, 108)} | {f"R{n}" for n in range(1, 103)} <= set(ids)
    failing = [row for row in ROWS if "fails" in row or "client_fails" in row]
    assert len(failing) == 15
    for row in failing:
        reason = row.get("fails", {}).get("reason") or row["client_fails"]
        assert re.match(r"[VR]-\d+: ", reason), row["id"]
    for row in ROWS:
        if "operation" in row:
            assert BY_ID[row["operation"]["from"]]["expect"]["status"] == [202], row["id"]
