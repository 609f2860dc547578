"""`olconnect-gateway simulator` as a real child process: its File Store and operation options."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from processes import Child, free_port, wait_listening
from simulator_support import BASE, GOOD_BASIC


async def test_spool_dir_and_progress_steps(tmp_path: Path) -> None:
    """Uploads land in `--spool-dir`, polls follow `--progress-steps`, SIGTERM empties the spool."""
    port = free_port()
    spool = tmp_path / "spool"
    child = Child(
        ["simulator", "--port", str(port), "--spool-dir", str(spool), "--progress-steps", "30"],
        tmp_path,
    )
    try:
        wait_listening(port)
        headers = {"Authorization": GOOD_BASIC}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as client:
            async with client.post(
                f"{BASE}/filestore/DataFile?filename=a.csv", data=b"a\nb\n"
            ) as r:
                file_id = await r.text()
            assert [p.read_bytes() for p in spool.iterdir()] == [b"a\nb\n"]
            async with client.post(f"{BASE}/workflow/datamining/c/{file_id}") as r:
                progress = r.links["progress"]["url"]
            answers = []
            for _ in range(2):
                async with client.get(progress) as r:
                    answers.append(await r.text())
            assert answers == ["30", "done"]
        child.send(signal.SIGTERM)
        assert await child.exit_code() == 0, child.stderr
        assert list(spool.iterdir()) == []
    finally:
        child.kill()


def test_every_option_states_its_default() -> None:
    """`simulator --help` gives each option a help text that names its default."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "simulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    options = re.split(r"\n  (?=--)", result.stdout.split("options:", 1)[1])[1:]
    assert len(options) == 14
    for option in options:
        assert "default" in option, option


async def _flow(port: int) -> tuple[list[int], int, str]:
    """Map and output a file, poll past `done`; the poll statuses, a bad token's status and
    the `getManagedResult` answer."""
    headers = {"Authorization": GOOD_BASIC}
    wf = f"{BASE}/workflow"
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as client:
        async with client.post(f"{wf}/outputcreation/o/1") as r:
            op_id = r.headers["operationId"]
        statuses = []
        for _ in range(5):
            async with client.get(f"{wf}/outputcreation/getProgress/{op_id}") as r:
                statuses.append(r.status)
        async with client.get(f"{BASE}/entity/jobsets/1", headers={"auth_token": "x"}) as r:
            refused = r.status
        async with client.post(f"{wf}/outputcreation/getManagedResult/{op_id}") as r:
            managed = await r.text()
    return statuses, refused, managed


async def test_fidelity_options_and_their_defaults(tmp_path: Path) -> None:
    """By default a finished operation's progress is 404 after `done`, refused tokens are
    401 and `getManagedResult` is JSON; the options bring back the older behaviours."""
    for args, expected in (
        ([], ([200, 200, 200, 200, 404], 401, '{"identifier"')),
        (
            [
                "--keep-finished-operations",
                "--auth-errors",
                "legacy",
                "--managed-result",
                "text",
            ],
            ([200, 200, 200, 200, 200], 403, ""),
        ),
    ):
        port = free_port()
        child = Child(["simulator", "--port", str(port), *args], tmp_path)
        try:
            wait_listening(port)
            statuses, refused, managed = await _flow(port)
            assert (statuses, refused) == expected[:2], args
            if expected[2]:
                assert managed.startswith(expected[2])
            else:
                assert managed.isdigit()
        finally:
            child.kill()
