"""Client names on /metrics (F9): absent unless metrics.client_labels is true, and /metrics
behind the admin scope when metrics.public is false."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from conftest import KEYS, MakeGateway, key_header
from prometheus_client.parser import text_string_to_metric_families

Client = TestClient[Any, Any]
SEGMENTS = "/rest/serverengine/entity/jobsegments"


async def traffic(gateway: Client) -> None:
    """Requests from every test client, and enough from `limited` to be refused."""
    for name in KEYS:
        async with gateway.get(f"{SEGMENTS}/5", headers=key_header(name)) as answer:
            assert answer.status == 200
    for _ in range(12):
        async with gateway.get(SEGMENTS, headers=key_header("limited")) as answer:
            await answer.read()


def client_values(text: str) -> set[str]:
    """Every value of a `client` label in an exposition."""
    return {
        sample.labels["client"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "client" in sample.labels
    }


async def test_metrics_carry_no_client_names_by_default(make_gateway: MakeGateway) -> None:
    """With the defaults the public /metrics counts requests and 429s, but names no client."""
    gateway = await make_gateway()
    await traffic(gateway)
    async with gateway.get("/metrics") as answer:
        assert answer.status == 200
        text = await answer.text()
    assert client_values(text) == {""}
    assert not [name for name in KEYS if f'"{name}"' in text]
    assert 'olcg_rate_limited_requests_total{client=""}' in text


async def test_metrics_name_clients_when_asked_to(make_gateway: MakeGateway) -> None:
    """metrics.client_labels: true puts the configured names back."""
    gateway = await make_gateway(metrics={"client_labels": True})
    await traffic(gateway)
    async with gateway.get("/metrics") as answer:
        text = await answer.text()
    assert set(KEYS) <= client_values(text)


async def test_metrics_behind_the_admin_scope_when_not_public(make_gateway: MakeGateway) -> None:
    """metrics.public: false: no key 401, a key without admin 403, an admin key (as a
    Prometheus bearer credential) 200."""
    gateway = await make_gateway(metrics={"public": False})
    async with gateway.get("/metrics") as answer:
        assert answer.status == 401
    async with gateway.get("/metrics", headers=key_header("reader")) as answer:
        assert answer.status == 403
    bearer = {"Authorization": f"Bearer {KEYS['admin']}"}
    async with gateway.get("/metrics", headers=bearer) as answer:
        assert answer.status == 200
        assert "olcg_requests_total" in await answer.text()
    async with gateway.get("/healthz") as answer:
        assert answer.status == 200  # the probes stay public
