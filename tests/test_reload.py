"""Reloading `clients:` — in-process with `reload_clients`, and by SIGHUP to a `serve` child."""

from __future__ import annotations

import asyncio
import io
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import hdrs
from aiohttp.test_utils import TestClient, TestServer
from conftest import KEYS, MakeGateway, client_entries, key_header
from processes import (
    UPSTREAM_PASSWORD,
    Gateway,
    StartGateway,
    assert_no_secrets,
    poll,
    replace_file,
    sim_control_fixture,  # noqa: F401
    slow_upstream,
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
    wait_upstream_call,  # *_fixture: imported so pytest finds them in this module
)
from prometheus_client.parser import text_string_to_metric_families

from gateway.cli.reload import reload_clients
from gateway.config.model import key_digest
from gateway.state import METRICS

SEGMENTS = "/rest/serverengine/entity/jobsegments"
NEW_KEY = "olcg_test_newbie_0123456789abcdefg"
VISIBLE_WITHIN = 2.0  # seconds from SIGHUP until the change is seen
Entries = list[dict[str, Any]]

Client = TestClient[Any, Any]


def with_new_client(entries: Entries) -> Entries:
    return [*entries, {"name": "newbie", "key_sha256": key_digest(NEW_KEY), "scopes": ["read"]}]


def without_reader(entries: Entries) -> Entries:
    return [entry for entry in entries if entry["name"] != "reader"]


def reader_gets_admin(entries: Entries) -> Entries:
    return [
        {**entry, "scopes": ["read", "admin"]} if entry["name"] == "reader" else entry
        for entry in entries
    ]


def reader_rekeyed(entries: Entries) -> Entries:
    return [
        {**entry, "key_sha256": key_digest(NEW_KEY)} if entry["name"] == "reader" else entry
        for entry in entries
    ]


def reader_limited(entries: Entries) -> Entries:
    return [
        {**entry, "rate_limit": 0.1} if entry["name"] == "reader" else entry for entry in entries
    ]


# (change, method, path, key, status before, status after). The rate-limit row sends
# its request twice: the first takes the one-request burst, the second is refused.
SCENARIOS: list[tuple[Callable[[Entries], Entries], str, str, str, int, int]] = [
    (with_new_client, hdrs.METH_GET, SEGMENTS, NEW_KEY, 403, 200),
    (without_reader, hdrs.METH_GET, SEGMENTS, KEYS["reader"], 200, 403),
    (reader_gets_admin, hdrs.METH_DELETE, "/admin/cache", KEYS["reader"], 403, 204),
    (reader_rekeyed, hdrs.METH_GET, SEGMENTS, NEW_KEY, 403, 200),
    (reader_limited, hdrs.METH_GET, SEGMENTS, KEYS["reader"], 200, 429),
]
SCENARIO_IDS = ["add-key", "remove-key", "change-scope", "rekey", "rate-limit"]


# --- in-process ---------------------------------------------------------------------------


def write_app_config(path: Path, server: TestServer, entries: Entries, **extra: Any) -> Path:
    """A config equal to the test gateway's (`make_config`) but for `clients` and `extra`."""
    config: dict[str, Any] = {
        "upstream": {
            "url": str(server.make_url("")).rstrip("/"),
            "username": "ol-admin",
            "password": "secret",
            "timeout": 5,
        },
        "clients": entries,
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def reloads(client: Client, outcome: str) -> float:
    """The in-process app's olcg_config_reloads_total{outcome}."""
    registry = client.app[METRICS].registry
    return registry.get_sample_value("olcg_config_reloads_total", {"outcome": outcome}) or 0.0


def log_events(output: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


async def status(client: Client, method: str, path: str, key: str) -> int:
    async with client.request(method, path, headers={"X-API-Key": key}) as response:
        await response.read()
        return response.status


@pytest.mark.parametrize(
    ("change", "method", "path", "key", "before", "after"), SCENARIOS, ids=SCENARIO_IDS
)
async def test_reload_clients_applies_the_change(
    gateway: Client,
    simulator_server: TestServer,
    tmp_path: Path,
    change: Callable[[Entries], Entries],
    method: str,
    path: str,
    key: str,
    before: int,
    after: int,
) -> None:
    """A valid file's clients replace the old ones at once: keys, scopes and limits."""
    assert await status(gateway, method, path, key) == before
    config = write_app_config(tmp_path / "g.yaml", simulator_server, change(client_entries()))

    assert reload_clients(gateway.app, str(config)) is True

    statuses = [await status(gateway, method, path, key) for _ in range(2)]
    assert statuses[-1] == after
    assert (reloads(gateway, "ok"), reloads(gateway, "invalid")) == (1, 0)


async def test_reload_clients_invalid_file_changes_nothing_and_logs_problems(
    gateway: Client, simulator_server: TestServer, tmp_path: Path, log_output: io.StringIO
) -> None:
    """An invalid file keeps the old clients, counts an invalid reload and logs every problem."""
    entries = without_reader(client_entries())
    entries.append({"name": "bad", "key_sha256": "xyz", "scopes": ["fly"]})
    config = write_app_config(tmp_path / "g.yaml", simulator_server, entries, colour="red")

    assert reload_clients(gateway.app, str(config)) is False

    assert await status(gateway, hdrs.METH_GET, SEGMENTS, KEYS["reader"]) == 200
    assert (reloads(gateway, "ok"), reloads(gateway, "invalid")) == (0, 1)
    [event] = [e for e in log_events(log_output) if e["event"] == "config_reload_rejected"]
    assert event["level"] == "error"
    assert event["config"] == str(config)
    problems = event["problems"]
    assert any(p.startswith("colour: unknown key") for p in problems)
    assert any(p.startswith("clients.3.key_sha256:") for p in problems)
    assert any(p.startswith("clients.3.scopes.0:") for p in problems)
    assert_no_secrets(log_output.getvalue(), [*KEYS.values(), '"secret"'])


async def test_reload_clients_missing_file_changes_nothing(
    gateway: Client, tmp_path: Path, log_output: io.StringIO
) -> None:
    """A file that cannot be read is an invalid reload, not a crash."""
    assert reload_clients(gateway.app, str(tmp_path / "gone.yaml")) is False
    assert await status(gateway, hdrs.METH_GET, SEGMENTS, KEYS["reader"]) == 200
    assert "config_reload_rejected" in [e["event"] for e in log_events(log_output)]


async def test_reload_clients_logs_other_sections_as_needing_restart(
    gateway: Client, simulator_server: TestServer, tmp_path: Path, log_output: io.StringIO
) -> None:
    """Changes outside `clients:` are not applied; they are logged as needing a restart."""
    config = write_app_config(
        tmp_path / "g.yaml",
        simulator_server,
        with_new_client(client_entries()),
        cache={"max_entries": 5},
        logging={"level": "warning"},
    )

    assert reload_clients(gateway.app, str(config)) is True

    assert await status(gateway, hdrs.METH_GET, SEGMENTS, NEW_KEY) == 200
    [event] = [e for e in log_events(log_output) if e["event"] == "config_reload_needs_restart"]
    assert event["sections"] == ["cache", "logging"]


async def test_reload_clients_ends_sessions_of_removed_clients(
    make_gateway: MakeGateway, simulator_server: TestServer, tmp_path: Path
) -> None:
    """A session token of a client removed by a reload stops working."""
    gateway = await make_gateway()
    login = "/rest/serverengine/authentication/login"
    auth = aiohttp.encode_basic_auth("reader", KEYS["reader"])
    async with gateway.post(login, headers={hdrs.AUTHORIZATION: auth}) as response:
        token = await response.text()
    config = write_app_config(
        tmp_path / "g.yaml", simulator_server, without_reader(client_entries())
    )

    reload_clients(gateway.app, str(config))

    async with gateway.get(SEGMENTS, headers={"auth_token": token}) as response:
        assert response.status == 403


# --- SIGHUP to a child --------------------------------------------------------------------


class KeepAlive:
    """One aiohttp session limited to one connection, counting the connections it opens."""

    def __init__(self, base_url: str) -> None:
        self.connections = 0
        trace = aiohttp.TraceConfig()
        trace.on_connection_create_end.append(self._opened)
        self.session = aiohttp.ClientSession(
            base_url,
            connector=aiohttp.TCPConnector(limit=1),
            trace_configs=[trace],
        )

    async def _opened(self, *_: object) -> None:
        self.connections += 1

    async def status(self, method: str, path: str, key: str) -> int:
        async with self.session.request(method, path, headers={"X-API-Key": key}) as response:
            await response.read()
            return response.status


async def hangup(gateway: Gateway, entries: Entries, **sections: Any) -> None:
    """Rewrite the child's config with `entries` and send it SIGHUP."""
    gateway.rewrite_config(clients=entries, **sections)
    gateway.child.send(signal.SIGHUP)


async def reloads_in(gateway: Gateway, outcome: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(gateway.url + "/metrics") as answer:
        text = await answer.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "olcg_config_reloads_total" and sample.labels == {"outcome": outcome}:
                return sample.value
    return 0.0


@pytest.mark.parametrize(
    ("change", "method", "path", "key", "before", "after"), SCENARIOS, ids=SCENARIO_IDS
)
async def test_sighup_change_visible_quickly_on_a_kept_alive_connection(
    start_gateway: StartGateway,
    change: Callable[[Entries], Entries],
    method: str,
    path: str,
    key: str,
    before: int,
    after: int,
) -> None:
    """SIGHUP applies the new clients within 2 s while one keep-alive connection keeps working."""
    gateway = await start_gateway()
    client = KeepAlive(gateway.url)
    async with client.session:
        assert await client.status(method, path, key) == before

        await hangup(gateway, change(client_entries()))

        async def applied() -> bool | None:
            statuses = [await client.status(method, path, key) for _ in range(2)]
            return True if statuses[-1] == after else None

        await poll(applied, VISIBLE_WITHIN, "the reloaded clients")
        assert await client.status(hdrs.METH_GET, "/healthz", "") == 200
        assert client.connections == 1, "the keep-alive connection was dropped"

    assert await reloads_in(gateway, "ok") == 1
    assert gateway.child.process.poll() is None
    assert_no_secrets(gateway.child.stdout + gateway.child.stderr, [*KEYS.values(), NEW_KEY])


async def test_sighup_invalid_file_keeps_old_clients_and_logs_problems(
    start_gateway: StartGateway,
) -> None:
    """An invalid file on SIGHUP changes nothing; the child logs each problem and keeps serving."""
    gateway = await start_gateway()
    client = KeepAlive(gateway.url)
    async with client.session:
        assert await client.status(hdrs.METH_GET, SEGMENTS, KEYS["reader"]) == 200
        replace_file(gateway.config, "clients: [oops\n")
        gateway.child.send(signal.SIGHUP)

        async def rejected() -> dict[str, Any] | None:
            events = gateway.child.log_events()
            found = [e for e in events if e["event"] == "config_reload_rejected"]
            return found[0] if found else None

        event = await poll(rejected, VISIBLE_WITHIN, "the rejected reload")
        assert event["problems"][0].startswith("config: YAML syntax error")
        assert await client.status(hdrs.METH_GET, SEGMENTS, KEYS["reader"]) == 200
        assert await client.status(hdrs.METH_GET, SEGMENTS, NEW_KEY) == 403

        # A later valid file is applied as usual.
        await hangup(gateway, with_new_client(client_entries()))

        async def applied() -> bool | None:
            ok = await client.status(hdrs.METH_GET, SEGMENTS, NEW_KEY) == 200
            return True if ok else None

        await poll(applied, VISIBLE_WITHIN, "the valid reload")
        assert client.connections == 1

    assert await reloads_in(gateway, "invalid") == 1
    assert await reloads_in(gateway, "ok") == 1
    assert_no_secrets(gateway.child.stdout + gateway.child.stderr, [*KEYS.values(), NEW_KEY])


async def test_sighup_does_not_fail_an_in_flight_request(
    start_gateway: StartGateway, sim_control: aiohttp.ClientSession
) -> None:
    """A slow request in flight during SIGHUP completes with 200."""
    gateway = await start_gateway()
    await slow_upstream(sim_control, 0.5)
    async with aiohttp.ClientSession(gateway.url) as session:
        slow = asyncio.create_task(session.get(f"{SEGMENTS}/3", headers=key_header("reader")))

        await wait_upstream_call(sim_control)
        await hangup(gateway, with_new_client(client_entries()))
        response = await slow
        assert response.status == 200
        response.release()
    assert gateway.child.process.poll() is None
    assert UPSTREAM_PASSWORD not in gateway.child.stdout


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",
        "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 8)),
    ],
    ids=["recursive-alias", "billion-laughs"],
)
async def test_sighup_alias_bomb_is_one_rejected_reload(
    start_gateway: StartGateway, text: str
) -> None:
    """A recursive or exponential alias on SIGHUP: one event, counted invalid, no traceback."""
    gateway = await start_gateway()
    replace_file(gateway.config, text)
    gateway.child.send(signal.SIGHUP)

    async def counted() -> bool | None:
        return True if await reloads_in(gateway, "invalid") == 1 else None

    await poll(counted, VISIBLE_WITHIN, "the invalid reload to be counted")

    async def logged() -> list[dict[str, Any]] | None:
        # The counter moves before the child's line reaches our pipe: wait for the line too.
        events = [e for e in gateway.child.log_events() if e["event"] == "config_reload_rejected"]
        return events or None

    [event] = await poll(logged, VISIBLE_WITHIN, "the rejected reload to be logged")
    [problem] = event["problems"]
    assert problem.startswith("config: YAML alias")
    assert "Traceback" not in gateway.child.stdout + gateway.child.stderr
    assert gateway.child.stderr == ""
    url = gateway.url + SEGMENTS
    async with aiohttp.ClientSession() as session, session.get(url, headers=key_header()) as answer:
        assert answer.status == 200
