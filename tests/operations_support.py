"""Helpers for the owner and waiting tests: clients in groups, and flows through the gateway.

Works on a pytest-aiohttp `TestClient` and on an `aiohttp.ClientSession` with a
base URL alike (both take a path and give a context-managed answer).
"""

from __future__ import annotations

import json
from typing import Any

from gateway.config.model import key_digest

BASE = "/rest/serverengine"
WF = f"{BASE}/workflow"
FS = f"{BASE}/filestore"
CSV = b"name,amount\nalice,10\nbob,20\n"
# a1 and a2 share group team-a; b1 is its own group (the default: its name); ops sees all.
GROUP_KEYS = {
    "a1": "olcg_test_team_a1_0123456789abcdef",
    "a2": "olcg_test_team_a2_0123456789abcdef",
    "b1": "olcg_test_team_b1_0123456789abcdef",
    "ops": "olcg_test_operator_0123456789abcd",
}
GROUPS = {"a1": "team-a", "a2": "team-a", "ops": "*"}


def group_clients() -> list[dict[str, Any]]:
    """The `clients:` list of a config with the four clients above, scopes read, run, files."""
    entries = []
    for name, key in GROUP_KEYS.items():
        entry: dict[str, Any] = {
            "name": name,
            "key_sha256": key_digest(key),
            "scopes": ["read", "run", "files"],
        }
        if name in GROUPS:
            entry["group"] = GROUPS[name]
        entries.append(entry)
    return entries


def as_(name: str, **extra: str) -> dict[str, str]:
    """The headers of a request by client ``name``."""
    return {"X-API-Key": GROUP_KEYS[name], **extra}


async def upload(session: Any, who: str, data: bytes = CSV, name: str = "in.csv") -> str:
    """Upload a data file as ``who``; its File Store id."""
    async with session.post(
        f"{FS}/DataFile?filename={name}&persistent=false", data=data, headers=as_(who)
    ) as answer:
        assert answer.status == 200, await answer.text()
        return str(await answer.text())


async def start(session: Any, who: str, path: str, body: object = None) -> str:
    """Start an operation as ``who``; its operationId."""
    async with session.post(path, json=body, headers=as_(who)) as answer:
        assert answer.status == 202, await answer.text()
        return str(answer.headers["operationId"])


async def wait_done(session: Any, who: str, service: str, op_id: str) -> None:
    """Wait (Prefer: wait, no sleep) until the operation is done."""
    for _ in range(20):
        async with session.get(
            f"{BASE}/{service}/getProgress/{op_id}", headers=as_(who, Prefer="wait=10")
        ) as answer:
            assert answer.status == 200, await answer.text()
            if await answer.text() == "done":
                return
    raise AssertionError(f"{op_id} never finished")


async def result(session: Any, who: str, service: str, op_id: str, verb: str = "getResult") -> str:
    """A finished operation's text result."""
    await wait_done(session, who, service, op_id)
    async with session.post(f"{BASE}/{service}/{verb}/{op_id}", headers=as_(who)) as answer:
        assert answer.status == 200, await answer.text()
        return str(await answer.text())


async def output_flow(session: Any, who: str) -> dict[str, str]:
    """Upload → data mapping → content → jobs → output, as ``who``.

    Returns the data file id, the output operation id and the output's managed file id.
    """
    data_file = await upload(session, who)
    data_set = await result(
        session,
        who,
        "workflow/datamining",
        await start(session, who, f"{WF}/datamining/c/{data_file}"),
    )
    content_set = await result(
        session,
        who,
        "workflow/contentcreation",
        await start(session, who, f"{WF}/contentcreation/t/{data_set}"),
    )
    job_set = await result(
        session,
        who,
        "workflow/jobcreation",
        await start(session, who, f"{WF}/jobcreation/j", {"identifiers": [int(content_set)]}),
    )
    output = await start(session, who, f"{WF}/outputcreation/o/{job_set}")
    managed = await result(session, who, "workflow/outputcreation", output, "getManagedResult")
    if managed.startswith("{"):  # 2024.2's {identifier, files}
        managed = str(json.loads(managed)["identifier"])
    return {"file": data_file, "operation": output, "managed": managed}
