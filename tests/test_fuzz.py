"""Property-based fuzzing with schemathesis against /openapi.json, on a live gateway + simulator.

The gateway and the simulator run on loopback sockets in a thread of their own
(schemathesis calls through `requests`, which blocks). Generated requests —
valid ones, and invalid ones in negative mode — must never get a 500, every
non-2xx must be a JSON Error, answers must match the document, and the process
must be healthy afterwards.

Bounded for CI: FUZZ_EXAMPLES (default 300) examples in all, well under 60 s.
A longer run is one variable away:

    FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py -p no:timeout
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from conftest import KEYS, basic_auth_header, client_entries
from hypothesis import HealthCheck, given
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from gateway.catalogue import LOGIN as LOGIN_ROUTE
from gateway.config.model import Config
from gateway.edge import openapi
from gateway.edge.runner_options import runner_options
from gateway.simulator import Simulator, create_simulator_app

LOGIN = LOGIN_ROUTE.template
JOBSEGMENTS = "/rest/serverengine/entity/jobsegments"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
# The admin key holds every scope, so generated requests reach the handlers.
AUTH = {"X-API-Key": KEYS["admin"]}
LOGIN_AUTH = {"Authorization": basic_auth_header("admin", KEYS["admin"])}


class LiveGateway:
    """The simulator and the gateway on loopback ports, served by a thread's event loop."""

    def __init__(self) -> None:
        self.base_url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> LiveGateway:
        self._thread.start()
        if not self._ready.wait(10) or self.error is not None:
            raise RuntimeError("the live gateway did not start") from self.error
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runners: list[web.AppRunner] = []
        try:
            simulator = web.AppRunner(create_simulator_app(Simulator(segments=200)))
            runners.append(simulator)
            await simulator.setup()
            await web.TCPSite(simulator, "127.0.0.1", 0).start()
            upstream_port = simulator.addresses[0][1]
            config = Config.model_validate(
                {
                    "upstream": {
                        "url": f"http://127.0.0.1:{upstream_port}",
                        "username": "ol-admin",
                        "password": "secret",
                        "timeout": 5,
                    },
                    "clients": client_entries(),
                }
            )
            gateway = web.AppRunner(
                create_app(config), access_log=None, **runner_options(config.server)
            )
            runners.append(gateway)
            await gateway.setup()
            await web.TCPSite(gateway, "127.0.0.1", 0).start()
            self.base_url = f"http://127.0.0.1:{gateway.addresses[0][1]}"
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._ready.set()
            if self.error is not None:
                for runner in reversed(runners):
                    await runner.cleanup()
        try:
            await self._stop.wait()
        finally:
            for runner in reversed(runners):
                await runner.cleanup()


@pytest.fixture(scope="module")
def live() -> Iterator[LiveGateway]:
    """One live gateway for the module: fuzzing needs no fresh state per example."""
    with LiveGateway() as gateway:
        yield gateway


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def json_error_on_failure(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every non-2xx answer is the OL Connect JSON Error with the same status."""
    if response.status_code < 300 or (response.status_code == 503 and case.path == "/readyz"):
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"{response.status_code} {content_type}"
    body = json.loads(response.content or b"null")
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["status"] == response.status_code, body
    assert isinstance(error["message"], str), body
    assert isinstance(error["parameter"], str), body
    assert "Traceback" not in response.text
    return True


def no_upstream_failure(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """The simulator is healthy: a 502 or 504 would mean the gateway broke the request."""
    assert response.status_code not in (502, 504), response.text
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    json_error_on_failure,
    no_upstream_failure,
]


def own_operations(document: dict[str, Any]) -> dict[str, Any]:
    """The document without forwarded operations: their answers are OL Connect's, passed
    back as they are (a simulator 500 would be one), so only the gateway's own are fuzzed."""
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        kept = {
            name: value
            for name, value in item.items()
            if not (isinstance(value, dict) and value.get("x-forwarded"))
        }
        if set(kept) - {"parameters"}:
            paths[path] = kept
    return {**document, "paths": paths}


SCHEMA = schemathesis.openapi.from_dict(own_operations(openapi.build()))


def fuzz(live: LiveGateway, http: requests.Session, mode: GenerationMode, examples: int) -> None:
    seen: set[int] = set()

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every CI run; a failure reproduces
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=SCHEMA.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        # A generated credential would only test the 401/403 paths; send a good one.
        credential = LOGIN_AUTH if case.path == LOGIN else AUTH
        response = case.call(base_url=live.base_url, session=http, headers=credential, timeout=10)
        seen.add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=credential)

    run()
    assert 500 not in seen
    # The key was accepted everywhere: generated requests reached the handlers.
    assert not seen & {401, 403}, sorted(seen)
    if mode is GenerationMode.POSITIVE:
        assert 200 in seen, f"nothing succeeded: {sorted(seen)}"


def test_fuzz_valid_requests_conform(live: LiveGateway, http: requests.Session) -> None:
    """Valid requests from the document get documented, well-formed answers and never a 500."""
    fuzz(live, http, GenerationMode.POSITIVE, max(1, EXAMPLES * 2 // 3))


def test_fuzz_invalid_requests_are_json_errors(live: LiveGateway, http: requests.Session) -> None:
    """Requests that break the document are refused with JSON Errors, never a 500."""
    fuzz(live, http, GenerationMode.NEGATIVE, max(1, EXAMPLES // 3))


def test_fuzz_gateway_healthy_afterwards(live: LiveGateway, http: requests.Session) -> None:
    """After the fuzzing the gateway still serves: health, readiness and a cached read."""
    assert http.get(f"{live.base_url}/healthz", timeout=5).status_code == 200
    assert http.get(f"{live.base_url}/readyz", timeout=5).status_code == 200
    segment = f"{live.base_url}{JOBSEGMENTS}/7"
    answer = http.get(segment, headers=AUTH, timeout=5)
    assert answer.status_code == 200
    assert "identifiers" in answer.json()
