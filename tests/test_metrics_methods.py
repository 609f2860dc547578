"""The `method` label stays bounded against a real `serve` with either HTTP parser.

aiohttp's pure-Python parser (``AIOHTTP_NO_EXTENSIONS=1``) takes any token as a
method; the C parser (llhttp) knows WebDAV's. Neither may mint a series.
"""

from __future__ import annotations

import asyncio
import random
import string

import aiohttp
import pytest
from processes import (
    StartGateway,
    sim_control_fixture,  # noqa: F401
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401 - *_fixture: imported so pytest finds them here
)
from prometheus_client.parser import text_string_to_metric_families

from gateway.telemetry.metrics import METHODS

PARSERS = {"c": {}, "python": {"AIOHTTP_NO_EXTENSIONS": "1"}}


async def _send(port: int, method: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} /healthz HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n".encode())
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("parser", list(PARSERS))
async def test_metrics_random_methods_are_counted_as_other(
    start_gateway: StartGateway, parser: str
) -> None:
    """Hundreds of invented methods (and PROPFIND) add one `other` series, not hundreds."""
    gateway = await start_gateway(env=PARSERS[parser])
    rng = random.Random(5)  # noqa: S311 - test data
    methods = ["PROPFIND", "MKCOL"] + [
        "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12))) for _ in range(200)
    ]
    answers = await asyncio.gather(*(_send(gateway.port, method) for method in methods))
    served = sum(1 for answer in answers if not answer.startswith(b"HTTP/1.0 400"))
    async with aiohttp.ClientSession() as session, session.get(gateway.url + "/metrics") as page:
        text = await page.text()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "olcg_requests_total":
                method = sample.labels["method"]
                counts[method] = counts.get(method, 0) + sample.value
    assert set(counts) <= METHODS | {"other"}
    assert counts["other"] == served
    if parser == "python":
        assert served == len(methods)  # every token is a method to it
