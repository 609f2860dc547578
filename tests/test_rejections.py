"""Requests aiohttp's HTTP parser rejects: a JSON 400 under our name, one log event, no leak.

Real `serve` children, with aiohttp's C parser and with its pure-Python one
(``AIOHTTP_NO_EXTENSIONS=1``), get malformed requests over raw sockets, each
carrying a valid client key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from typing import Any

import pytest
from conftest import KEYS, basic_auth_header
from processes import (
    Gateway,
    StartGateway,
    poll,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401 - *_fixture: imported so pytest finds them here
)

KEY = KEYS["reader"]
PARSERS = {"c": {}, "python": {"AIOHTTP_NO_EXTENSIONS": "1"}}
CREDENTIALS = {
    "x-api-key": f"X-API-Key: {KEY}",
    "bearer": f"Authorization: Bearer {KEY}",
    "basic": f"Authorization: {basic_auth_header('reader', KEY)}",
    "auth_token": f"auth_token: {KEY}",
}
# What must never appear in any output: the key, and its base64 forms (Basic credentials).
LEAKS = [
    KEY,
    base64.b64encode(f"reader:{KEY}".encode()).decode(),
    base64.b64encode(KEY.encode()).decode(),
    "Traceback",
]
HEAD = "GET /healthz HTTP/1.1\r\nHost: gateway\r\n"


def malformed(credential: str) -> dict[str, bytes]:
    """Requests both parsers reject, each carrying `credential` (a whole header line)."""
    return {
        "bare_lf": f"{HEAD}{credential}\nX-Next: 1\r\n\r\n".encode(),
        "obs_fold": f"{HEAD}X-Note: a\r\n {credential}\r\n\r\n".encode(),
        "control_char": f"{HEAD}{credential}\x01\r\n\r\n".encode(),
        "nul": f"{HEAD}{credential}\x00\r\n\r\n".encode(),
        "long_header": f"{HEAD}{credential}{'a' * 9000}\r\n\r\n".encode(),
        "long_request_line": f"GET /healthz?{'a' * 9000} HTTP/1.1\r\n{credential}\r\n\r\n".encode(),
        "bad_method": f"G\x01T /healthz HTTP/1.1\r\n{credential}\r\n\r\n".encode(),
        "bad_version": f"GET /healthz HTTP/9.Z\r\n{credential}\r\n\r\n".encode(),
    }


async def send_raw(gateway: Gateway, raw: bytes, *, deadline: float = 5.0) -> bytes:
    """Send `raw` on a fresh connection; return everything the server wrote before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), deadline)
    except ConnectionResetError:
        return b""  # closed while we still wrote: nothing was answered
    finally:
        writer.close()


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and body of one HTTP/1.x answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_rejected(raw: bytes) -> None:
    """A detail-free JSON 400 under our Server name."""
    status, headers, body = parse_answer(raw)
    assert status == 400
    assert headers["server"] == "olconnect-gateway"
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {
        "error": {"status": 400, "message": "malformed request", "parameter": ""}
    }


def assert_no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak[:12]}… appeared in the output"


def rejections(gateway: Gateway) -> list[dict[str, Any]]:
    return [e for e in gateway.child.log_events() if e["event"] == "http_request_rejected"]


async def wait_events(gateway: Gateway, count: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        events = rejections(gateway)
        return events if len(events) >= count else None

    return await poll(enough, 5, f"{count} rejection events")


@pytest.mark.parametrize("parser", list(PARSERS))
async def test_rejected_request_is_json_400_and_one_event(
    start_gateway: StartGateway, parser: str
) -> None:
    """Each malformed request, each credential form: a JSON 400, one event each, no leak."""
    gateway = await start_gateway(env=PARSERS[parser])
    sent = 0
    for credential in CREDENTIALS.values():
        for raw in malformed(credential).values():
            assert_rejected(await send_raw(gateway, raw))
            sent += 1
    events = await wait_events(gateway, sent)
    assert len(events) == sent
    for event in events:
        assert set(event) == {"event", "level", "timestamp", "status", "reason", "remote"}
        assert event["status"] == 400
        assert event["reason"].isidentifier()  # aiohttp's exception class name, nothing more
    assert_no_leak(gateway.child.stdout + gateway.child.stderr)


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
async def test_rejected_request_console_format_never_leaks(
    start_gateway: StartGateway, level: str
) -> None:
    """Console lines at every level: the rejection is one line (debug, info) or none, no key."""
    gateway = await start_gateway(logging={"level": level, "format": "console"})
    for raw in malformed(CREDENTIALS["basic"]).values():
        assert_rejected(await send_raw(gateway, raw))
    expected = len(malformed(""))
    if level in ("debug", "info"):

        async def logged() -> bool | None:
            return True if gateway.child.stdout.count("http_request_rejected") == expected else None

        await poll(logged, 5, "the console lines")
    output = gateway.child.stdout + gateway.child.stderr
    assert output.count("http_request_rejected") == (expected if level in ("debug", "info") else 0)
    assert_no_leak(output)


async def test_rejection_leaves_the_server_serving(start_gateway: StartGateway) -> None:
    """After a rejection the connection closes and the next one is served normally."""
    gateway = await start_gateway()
    assert_rejected(await send_raw(gateway, malformed(CREDENTIALS["x-api-key"])["obs_fold"]))
    status, headers, _ = parse_answer(
        await send_raw(gateway, f"{HEAD}Connection: close\r\n\r\n".encode())
    )
    assert status == 200
    assert headers["server"] == "olconnect-gateway"


# --- fuzz --------------------------------------------------------------------

_BAD_BYTES = [b"\n", b"\r", b"\x00", b"\x01", b"\x07", b"\x1b", b"\x7f", b" ", b"\t", b"\xff", b":"]


def fuzz_requests(seed: int, count: int) -> list[bytes]:
    """Requests mutated around a credential header: bad bytes spliced in, lines folded,
    line endings cut to LF, lines stretched past the limit, methods and versions broken."""
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    requests = []
    for _ in range(count):
        credential = rng.choice(list(CREDENTIALS.values())).encode()
        lines = [b"GET /rest/serverengine/entity/jobsegments/1 HTTP/1.1", b"Host: gateway"]
        lines.insert(rng.randrange(1, 3), credential)
        for _ in range(rng.randint(1, 3)):
            index = rng.randrange(len(lines))
            line = lines[index]
            mutation = rng.randrange(6)
            if mutation == 0:  # a bad byte anywhere in the line
                at = rng.randrange(len(line) + 1)
                lines[index] = line[:at] + rng.choice(_BAD_BYTES) + line[at:]
            elif mutation == 1:  # obs-fold: the line continues the previous one
                lines[index] = b" " + line
            elif mutation == 2:  # past max_line_size / max_field_size
                lines[index] = line + b"a" * rng.choice([8191, 9000, 20000])
            elif mutation == 3:  # a broken method
                method = rng.choice([b"G\x01T", b"\x16\x03\x01", b"GET\x00", credential])
                lines[0] = method + b" " + lines[0].partition(b" ")[2]
            elif mutation == 4:  # a broken version
                lines[0] = lines[0].rpartition(b" ")[0] + rng.choice([b" HTTP/1.x", b" HTTP/11"])
            else:  # the key in the request target, with a control byte
                lines[0] = b"GET /?" + credential + b"\x01 HTTP/1.1"
        endings = [rng.choice([b"\r\n", b"\r\n", b"\n"]) for _ in lines]
        requests.append(b"".join(line + end for line, end in zip(lines, endings, strict=True)))
        requests[-1] += b"\r\n"
    return requests


async def _answers(gateway: Gateway, requests: list[bytes]) -> list[bytes]:
    limit = asyncio.Semaphore(32)

    async def one(raw: bytes) -> bytes:
        async with limit:
            # A request the parser still waits on is closed by server.client_timeout.
            return await send_raw(gateway, raw, deadline=10)

    return list(await asyncio.gather(*(one(raw) for raw in requests)))


@pytest.mark.parametrize("parser", list(PARSERS))
@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_fuzz_malformed_requests_never_leak_the_key(
    start_gateway: StartGateway, parser: str, fmt: str
) -> None:
    """Hundreds of malformed requests with a valid key, at debug level: no key, no base64 of
    it, no traceback in any output; every rejection is our JSON 400."""
    gateway = await start_gateway(
        env=PARSERS[parser],
        server={"client_timeout": 1},
        logging={"level": "debug", "format": fmt},
    )
    answers = await _answers(gateway, fuzz_requests(seed=14, count=300))
    rejected = 0
    for raw in answers:
        if raw.startswith(b"HTTP/1.0 400") or b"malformed request" in raw:
            assert_rejected(raw)
            rejected += 1
        elif raw:
            assert parse_answer(raw)[1]["server"] == "olconnect-gateway"
    assert rejected >= 200  # the mutations are meant to be refused; most must be
    if fmt == "json":
        # One event per rejection (a reset connection may hide an answer, never an event).
        events = await wait_events(gateway, rejected)
        assert rejected <= len(events) <= len(answers)
    assert_no_leak(gateway.child.stdout + gateway.child.stderr)


@pytest.mark.parametrize(("parser", "expected"), [("c", 408), ("python", 400)])
async def test_bad_chunk_after_an_accepted_head_never_leaks(
    start_gateway: StartGateway, parser: str, expected: int
) -> None:
    """A chunk-size line holding a key, sent once the head reached the handler: the
    pure-Python parser fails the body (a JSON 400, one event); the C parser stalls the
    body (408 after client_timeout). Neither logs the bytes or a traceback. (Sent with
    the head, the C parser refuses the request at once: 400.)"""
    gateway = await start_gateway(env=PARSERS[parser], server={"client_timeout": 1})
    writer_key = KEYS["writer"]
    # Expect: 100-continue: the interim answer says the head reached the handler, so the
    # bad chunk surely comes after an accepted head.
    head = (
        f"PUT /rest/serverengine/entity/jobsegments/1/metadata HTTP/1.1\r\nHost: gateway\r\n"
        f"X-API-Key: {writer_key}\r\nTransfer-Encoding: chunked\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(head)
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b'5\r\n{"id"\r\n' + f"ZZ{writer_key}\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status, headers, body = parse_answer(answer)
    assert status == expected
    assert headers["server"] == "olconnect-gateway"
    assert json.loads(body)["error"]["status"] == status
    if status == 400:
        assert len(await wait_events(gateway, 1)) == 1
    output = gateway.child.stdout + gateway.child.stderr
    assert writer_key not in output
    assert "Traceback" not in output
