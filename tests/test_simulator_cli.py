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
    assert len(options) == 12
    for option in options:
        assert "default" in option, option
