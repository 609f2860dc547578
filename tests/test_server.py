"""`serve` and `demo` as child processes: startup line, graceful SIGTERM/SIGINT, bad config."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from pathlib import Path

import aiohttp
import pytest
from conftest import KEYS, key_header
from processes import (
    START_DEADLINE,
    UPSTREAM_ENV,
    UPSTREAM_PASSWORD,
    Child,
    StartGateway,
    assert_no_secrets,
    free_port,
    poll,
    sim_control_fixture,  # noqa: F401
    slow_upstream,
    start_gateway_fixture,  # noqa: F401
    upstream_fixture,  # noqa: F401
    wait_http,
    wait_upstream_call,  # *_fixture: imported so pytest finds them in this module
    write_config,
)

from gateway.cli.demo import WHOLE_API_HEADER

SEGMENTS = "/rest/serverengine/entity/jobsegments"
SECRETS = [*KEYS.values(), UPSTREAM_PASSWORD]


async def test_serve_startup_line_names_address_and_config(start_gateway: StartGateway) -> None:
    """The startup log event names the listening address, the config path, the upstream and
    the cache backend — and nothing internal."""
    gateway = await start_gateway()
    [event] = [e for e in gateway.child.log_events() if e["event"] == "gateway_listening"]
    assert event["address"] == gateway.url
    assert event["config"] == str(gateway.config)
    assert set(event) == {
        "event",
        "level",
        "timestamp",
        "address",
        "config",
        "upstream",
        "cache_backend",
    }


async def test_serve_sigterm_lets_slow_request_finish_and_exits_0(
    start_gateway: StartGateway, sim_control: aiohttp.ClientSession
) -> None:
    """SIGTERM during a slow upstream request: new connections are refused, it completes, exit 0.

    A SIGHUP while it drains changes nothing.
    """
    gateway = await start_gateway()
    await slow_upstream(sim_control, 1.5)

    async with aiohttp.ClientSession(gateway.url) as client:
        slow = asyncio.create_task(client.get(f"{SEGMENTS}/7", headers=key_header("reader")))

        await wait_upstream_call(sim_control)
        gateway.child.send(signal.SIGTERM)

        async def refused() -> bool | None:
            try:
                async with aiohttp.ClientSession() as other:
                    await other.get(gateway.url + "/healthz")
            except aiohttp.ClientConnectionError:
                return True
            return None

        await poll(refused, 5, "the listener to close")
        gateway.child.send(signal.SIGHUP)  # a reload while draining must not kill it
        assert not slow.done(), "the slow request should still be in flight"
        response = await slow
        assert response.status == 200
        assert (await response.json())["identifiers"]
        response.release()

    assert await gateway.child.exit_code() == 0
    events = [e["event"] for e in gateway.child.log_events()]
    assert events.index("gateway_stopping") < events.index("gateway_stopped")
    assert "Traceback" not in gateway.child.stderr
    assert "Unclosed" not in gateway.child.stdout + gateway.child.stderr
    assert_no_secrets(gateway.child.stdout + gateway.child.stderr, SECRETS)


async def test_serve_shutdown_timeout_bounds_the_wait(
    start_gateway: StartGateway, sim_control: aiohttp.ClientSession
) -> None:
    """A request slower than server.shutdown_timeout does not hold the process: it exits 0."""
    gateway = await start_gateway(server={"shutdown_timeout": 0.2})
    await slow_upstream(sim_control, 30)
    async with aiohttp.ClientSession(gateway.url) as client:
        hung = asyncio.create_task(client.get(f"{SEGMENTS}/7", headers=key_header("reader")))

        await wait_upstream_call(sim_control)
        gateway.child.send(signal.SIGTERM)
        assert await gateway.child.exit_code() == 0
        with pytest.raises(aiohttp.ClientError):
            await hung
    assert "Traceback" not in gateway.child.stderr


async def test_serve_sigint_exits_0(start_gateway: StartGateway) -> None:
    """SIGINT (Ctrl-C) stops the gateway cleanly with exit status 0."""
    gateway = await start_gateway()
    async with (
        aiohttp.ClientSession(gateway.url) as client,
        client.get(SEGMENTS, headers=key_header("reader")) as response,
    ):
        assert response.status == 200
    gateway.child.send(signal.SIGINT)
    assert await gateway.child.exit_code() == 0
    assert "Traceback" not in gateway.child.stderr
    assert "gateway_stopped" in [e["event"] for e in gateway.child.log_events()]
    assert_no_secrets(gateway.child.stdout + gateway.child.stderr, SECRETS)


@pytest.mark.parametrize(
    ("config_text", "problems"),
    [
        (
            "upstream:\n  url: ftp://x\n  username: u\n  password: p\n  colour: red\nclients: []\n",
            ["upstream.url:", "upstream.colour: unknown key", "clients:"],
        ),
        ("server: [\n", ["config: YAML syntax error"]),
        (None, ["config: cannot read"]),
    ],
    ids=["invalid", "not-yaml", "missing"],
)
async def test_serve_bad_config_exits_2_one_line_per_problem(
    tmp_path: Path, config_text: str | None, problems: list[str]
) -> None:
    """A bad or missing config: exit 2, one stderr line per problem, no traceback."""
    config = tmp_path / "gateway.yaml"
    if config_text is not None:
        config.write_text(config_text)
    child = Child(["serve", "--config", str(config)], tmp_path)
    try:
        assert await child.exit_code(START_DEADLINE) == 2
    finally:
        child.kill()
    lines = child.stderr.splitlines()
    assert len(lines) == len(problems)
    for line, expected in zip(lines, problems, strict=True):
        assert line.startswith(expected)
    assert "Traceback" not in child.stderr


async def test_demo_prints_a_working_key_and_stops_on_sigint(tmp_path: Path) -> None:
    """`demo --port N` prints a key that works through the gateway; SIGINT stops it with 0."""
    port = free_port()
    child = Child(["demo", "--port", str(port)], tmp_path)
    try:

        async def printed_key() -> str | None:
            found = re.search(r"Demo API key \([^)]*\): (\S+)", child.stdout)
            return found.group(1) if found else None

        key = await poll(printed_key, START_DEADLINE, "the demo key")
        # The README's curl lines use $KEY: the banner says how to set it, as a shell line.
        [export] = [line for line in child.stdout.splitlines() if "export KEY=" in line]
        shell_line = export[export.index("export KEY=") :]
        shell = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", f'{shell_line}; printf %s "$KEY"', stdout=asyncio.subprocess.PIPE
        )
        exported, _ = await shell.communicate()
        assert exported.decode() == key
        async with (
            aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client,
            client.get(f"{SEGMENTS}/42", headers={"X-API-Key": key}) as response,
        ):
            assert response.status == 200
            assert (await response.json())["identifiers"]
        child.send(signal.SIGINT)
        assert await child.exit_code() == 0
    finally:
        child.kill()
    assert "Traceback" not in child.stderr
    after_banner = child.stdout.split("/metrics", 1)[1]
    assert key not in after_banner, "the demo key appeared in a log line"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_demo_whole_api_lines_work_as_printed(tmp_path: Path) -> None:
    """The banner's upload-to-download block, pasted into bash with KEY set, downloads the
    output of the whole document flow through the gateway, waiting with `Prefer: wait`."""
    port = free_port()
    child = Child(["demo", "--port", str(port)], tmp_path)
    try:

        async def printed_block() -> tuple[str, str] | None:
            found = re.search(r"export KEY=(\S+)", child.stdout)
            if found is None or "entity/jobsets/$JOBSET" not in child.stdout:
                return None
            block = child.stdout.split(WHOLE_API_HEADER, 1)[1]
            lines = [line[2:] for line in block.splitlines() if line.startswith("  ")]
            return found.group(1), "\n".join(lines)

        key, block = await poll(printed_block, START_DEADLINE, "the demo banner")
        assert "Prefer: wait=" in block  # the gateway waits; the flow never sleeps
        assert "sleep" not in block
        work = tmp_path / "flow"
        work.mkdir()
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            block,
            cwd=work,
            env={"PATH": os.environ["PATH"], "KEY": key},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(shell.communicate(), 60)
        assert shell.returncode == 0, err.decode()
        [pdf] = list(work.glob("jobset-*.pdf"))
        assert pdf.read_bytes().startswith(b"%PDF")
        assert '"identifiers"' in out.decode()  # the job set's jobs, read back as an entity
    finally:
        child.kill()


async def test_serve_takes_its_config_from_olcg_config(upstream: str, tmp_path: Path) -> None:
    """Without --config, `serve` reads the file named by OLCG_CONFIG and answers end to end."""
    port = free_port()
    config = write_config(
        tmp_path / "from-env.yaml", port=port, upstream_port=int(upstream.rsplit(":", 1)[1])
    )
    child = Child(["serve"], tmp_path, {**UPSTREAM_ENV, "OLCG_CONFIG": str(config)})
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_http(url + "/healthz", child)
        async with aiohttp.ClientSession() as client:
            response = await client.get(url + f"{SEGMENTS}/3", headers=key_header("reader"))
            assert response.status == 200
            assert (await response.json())["identifiers"]
        [event] = [e for e in child.log_events() if e["event"] == "gateway_listening"]
        assert event["config"] == str(config)
        child.send(signal.SIGTERM)
        assert await child.exit_code() == 0
    finally:
        child.kill()
