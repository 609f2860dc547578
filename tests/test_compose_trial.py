"""deploy/compose.yaml's trial client runs the docs' whole-API flow (SPEC §12.3).

No container engine runs here: the compose services become local processes — the
simulator with compose's own arguments, a real redis-server for the `redis`
service, and `serve` with compose's gateway.yaml, only its addresses pointed at
them. The flow is the one the demo prints and the docs show, run in bash with
the trial key.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import Child, free_port, poll, wait_http, wait_listening
from redis_fixtures import RedisServer

from gateway.cli.demo import WHOLE_API_HEADER, banner
from gateway.config.model import key_digest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"][
        name
    ]
    return service


def flow_block(base: str) -> str:
    """The whole-API flow as the demo prints it (and the docs show it), for `base`."""
    block = banner(base, "$KEY", 0).split(WHOLE_API_HEADER, 1)[1]
    return "\n".join(line[2:] for line in block.splitlines() if line.startswith("  "))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_compose_trial_client_runs_the_whole_api_flow(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """With compose's gateway.yaml and a trial key made as compose.yaml says, the flow from
    upload to download succeeds: the trial client holds every scope it needs."""
    sim_port, port = free_port(), free_port()
    simulator_args = compose_service("simulator")["command"]
    simulator_args[simulator_args.index("--port") + 1] = str(sim_port)
    simulator_args[simulator_args.index("--host") + 1] = "127.0.0.1"
    children = [Child(simulator_args, tmp_path)]
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "compose" / "gateway.yaml").read_text())
    # Only the addresses change: where compose's DNS names would point.
    config["server"].update(host="127.0.0.1", port=port)
    config["upstream"]["url"] = f"http://127.0.0.1:{sim_port}"
    config["cache"]["redis_url"] = redis_server.url
    config["cache"]["redis_prefix"] = f"trial-{secrets.token_hex(4)}:"
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    key = "olcg_" + secrets.token_urlsafe(32)
    environment = {
        name: str(value)
        for name, value in compose_service("gateway")["environment"].items()
        if not str(value).startswith("${")
    }
    environment["OLCG_TRIAL_KEY_SHA256"] = key_digest(key)  # as compose.yaml's header says
    gateway = Child(["serve", "--config", str(path)], tmp_path, environment)
    children.append(gateway)
    try:
        wait_listening(sim_port)
        await wait_http(f"http://127.0.0.1:{port}/healthz", gateway)
        work = tmp_path / "flow"
        work.mkdir()
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            flow_block(f"http://127.0.0.1:{port}"),
            cwd=work,
            env={"PATH": os.environ["PATH"], "KEY": key},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        running = asyncio.create_task(shell.communicate())

        async def finished_or_refused() -> bool | None:
            refused = [e["reason"] for e in gateway.log_events() if "reason" in e]
            if refused:  # the flow would poll a missing operation forever: stop now
                shell.kill()
                raise AssertionError(f"the trial client was refused: {refused}")
            return True if running.done() else None

        await poll(finished_or_refused, 60, "the flow", interval=0.2)
        out, err = await running
        assert shell.returncode == 0, err.decode()
        [pdf] = list(work.glob("jobset-*.pdf"))
        assert pdf.read_bytes().startswith(b"%PDF")
        assert '"identifiers"' in out.decode()
    finally:
        for child in children:
            child.kill()
