"""An unmodified OL Connect-style integration runs against the gateway."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway

from gateway.simulator import Simulator


class OLConnectClient:
    """A small synchronous client written the way OL Connect integrations usually are.

    It logs in with Basic credentials, sends `auth_token` on every call and logs
    in again when a call answers 401. It knows nothing about the gateway.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.username = username
        self.password = password
        self.token: str | None = None
        self.logins = 0

    def login(self) -> None:
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base_url + "/rest/serverengine/authentication/login",
            method="POST",
            headers={"Authorization": f"Basic {basic}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            self.token = response.read().decode()
        self.logins += 1

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if self.token is None:
            self.login()
        for attempt in range(2):
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(  # noqa: S310
                self.base_url + "/rest/serverengine/entity/jobsegments" + path,
                data=data,
                method=method,
                headers={"auth_token": self.token or "", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    payload = response.read().decode()
                    if response.headers.get_content_type() == "application/json":
                        return json.loads(payload)
                    return payload
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 0:
                    self.login()
                    continue
                raise
        raise AssertionError("unreachable")


async def test_integrator_client_runs_unchanged(
    make_gateway: MakeGateway, simulator: Simulator, wall_clock: FakeClock
) -> None:
    """List document sets, read and update metadata, and survive the session token expiring."""
    gateway: TestClient[Any, Any] = await make_gateway(server={"session_ttl": 60})
    base = str(gateway.make_url("")).rstrip("/")
    client = OLConnectClient(base, "writer", KEYS["writer"])

    def session() -> list[Any]:
        results = [client.call("GET", "")]
        results.append(client.call("GET", "/12"))
        results.append(client.call("GET", "/12/metadata"))
        results.append(
            client.call(
                "PUT", "/12/metadata", {"id": 12, "properties": [{"name": "k", "value": "v"}]}
            )
        )
        results.append(client.call("GET", "/12/metadata"))
        wall_clock.advance(61)  # the gateway session token expires; the client logs in again
        results.append(client.call("GET", "/12"))
        return results

    handshake, sets, before, put, after, sets_again = await asyncio.to_thread(session)
    assert isinstance(handshake, str)
    assert handshake
    assert sets == {"identifiers": simulator.document_sets(12)} == sets_again
    assert before == [
        {"name": "customer", "value": "customer-12"},
        {"name": "pages", "value": str(12 % 7 + 1)},
    ]
    assert put == "true"
    assert after == [{"name": "k", "value": "v"}]
    assert client.logins == 2


async def test_integrator_walk_costs_one_upstream_call_per_distinct_read(
    gateway: TestClient[Any, Any], simulator: Simulator
) -> None:
    """Walk job sets down to document metadata twice, write some, walk again: the upstream
    sees each distinct read once, and again only what the writes changed (SPEC §8.5)."""
    headers = {"X-API-Key": KEYS["writer"]}
    entity = "/rest/serverengine/entity"

    async def get(path: str) -> Any:
        async with gateway.get(entity + path, headers=headers) as answer:
            assert answer.status == 200, path
            return await answer.json()

    async def walk() -> list[int]:
        documents: list[int] = []
        for job_set in (1, 2):
            for job in (await get(f"/jobsets/{job_set}"))["identifiers"]:
                await get(f"/jobs/{job}/properties")
                for segment in (await get(f"/jobs/{job}"))["identifiers"]:
                    await get(f"/jobsegments/{segment}/metadata")
                    for document_set in (await get(f"/jobsegments/{segment}"))["identifiers"]:
                        for document in (await get(f"/documentsets/{document_set}"))["identifiers"]:
                            await get(f"/documents/{document}/metadata")
                            documents.append(document)
        return documents

    documents = await walk()
    first = sum(simulator.calls.values()) - simulator.calls["login"]
    # 2 job sets, 4 jobs (+ properties), 8 segments (+ metadata), 24 document sets,
    # 48 documents: every read once.
    assert first == 2 + 4 * 2 + 8 * 2 + 24 + 48
    assert await walk() == documents  # all hits: the upstream sees nothing new
    assert sum(simulator.calls.values()) - simulator.calls["login"] == first
    for document in documents[:5]:
        body = {"id": document, "properties": [{"name": "status", "value": "printed"}]}
        async with gateway.put(
            f"{entity}/documents/{document}/metadata", json=body, headers=headers
        ):
            pass
    await walk()
    reads_after = simulator.calls["documents.metadata_get"]
    assert reads_after == 48 + 5  # only the five written documents were read again
