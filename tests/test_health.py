"""/healthz (the process serves) and /readyz (an upstream token is held or obtainable now)."""

from __future__ import annotations

import io
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import KEYS, FakeClock, MakeGateway

from gateway.simulator import Simulator

Client = TestClient[Any, Any]


async def readiness(client: Client) -> tuple[int, dict[str, Any]]:
    async with client.get("/readyz") as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def test_healthz_ok_without_key_even_when_upstream_down(
    make_gateway: MakeGateway, unused_tcp_port: int
) -> None:
    """/healthz answers 200 {"status": "ok"} with no key, whatever the upstream does."""
    gateway = await make_gateway(upstream={"url": f"http://127.0.0.1:{unused_tcp_port}"})
    async with gateway.get("/healthz") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"status": "ok"}


async def test_readyz_ready_after_logging_in(gateway: Client, simulator: Simulator) -> None:
    """/readyz logs in when no token is held and answers 200; later probes reuse the token."""
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert simulator.calls["login"] == 1


async def test_readyz_flips_to_503_when_logins_are_rejected_and_back(
    gateway: Client, simulator: Simulator, clock: FakeClock, log_output: io.StringIO
) -> None:
    """Once the token expires and logins are rejected, 503 names the reason; it recovers."""
    assert (await readiness(gateway))[0] == 200
    simulator.reject_logins = True
    clock.advance(3600)  # the token the gateway holds (and the simulator issued) expires

    status, body = await readiness(gateway)
    assert status == 503
    assert body == {"status": "unavailable", "reason": "upstream authentication failed"}
    # Backing off: probes fail fast without hammering the upstream's login.
    assert (await readiness(gateway))[0] == 503
    assert simulator.calls["login"] == 2

    simulator.reject_logins = False
    clock.advance(1)  # past the first login backoff
    assert await readiness(gateway) == (200, {"status": "ready"})
    assert simulator.calls["login"] == 3

    logged = log_output.getvalue()
    assert "upstream_login_failed" in logged
    for secret in [*simulator.issued_tokens(), '"secret"', *KEYS.values()]:
        assert secret not in logged


async def test_readyz_503_when_upstream_unreachable(
    make_gateway: MakeGateway, unused_tcp_port: int
) -> None:
    """An upstream that refuses connections makes /readyz 503 with the reason."""
    gateway = await make_gateway(upstream={"url": f"http://127.0.0.1:{unused_tcp_port}"})
    assert await readiness(gateway) == (
        503,
        {"status": "unavailable", "reason": "upstream unavailable"},
    )


async def test_readyz_ready_while_token_held_even_if_logins_rejected(
    gateway: Client, simulator: Simulator
) -> None:
    """A valid token is enough: rejecting new logins does not flip readiness early."""
    assert (await readiness(gateway))[0] == 200
    simulator.reject_logins = True
    assert (await readiness(gateway))[0] == 200
