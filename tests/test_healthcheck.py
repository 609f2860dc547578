"""`olconnect-gateway healthcheck`: follows the configured address; one line; exit 0 or 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from processes import UPSTREAM_ENV, Child, free_port, replace_file, wait_http, write_config

from gateway.cli.healthcheck import healthz_url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8080/healthz"),  # noqa: S104 - a wildcard to follow
        ("::", "http://[::1]:8080/healthz"),
        ("127.0.0.1", "http://127.0.0.1:8080/healthz"),
        ("::1", "http://[::1]:8080/healthz"),
        ("localhost", "http://localhost:8080/healthz"),
        ("10.1.2.3", "http://10.1.2.3:8080/healthz"),
    ],
)
def test_healthz_url_reaches_a_wildcard_through_loopback(host: str, url: str) -> None:
    """A wildcard address is probed on loopback of the same family; others as configured."""
    assert healthz_url(host, 8080) == url


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def run_healthcheck(workdir: Path, *args: str, env: dict[str, str] | None = None) -> Child:
    child = Child(["healthcheck", *args], workdir, env)
    await child.exit_code()
    return child


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",  # noqa: S104 - the container's usual setting
        "127.0.0.1",
        pytest.param(
            "::",
            marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here"),
        ),
    ],
)
async def test_healthcheck_follows_the_configured_address(tmp_path: Path, host: str) -> None:
    """Against a real `serve` on a free port the check is healthy: exit 0, one line."""
    port = free_port()
    config = write_config(
        tmp_path / "gateway.yaml", port=port, upstream_port=free_port(), server={"host": host}
    )
    gateway = Child(["serve", "--config", str(config)], tmp_path, UPSTREAM_ENV)
    try:
        await wait_http(healthz_url(host, port), gateway)
        # No upstream credentials in its environment: only `server:` is read.
        check = await run_healthcheck(tmp_path, env={"OLCG_CONFIG": str(config)})
    finally:
        gateway.kill()
    assert check.process.returncode == 0, check.stdout
    [line] = check.stdout.splitlines()
    assert line == f"healthy: {healthz_url(host, port)}"
    assert check.stderr == ""


async def test_healthcheck_nothing_listening_is_unhealthy(tmp_path: Path) -> None:
    """With no gateway on the configured port the check says why: exit 1, one line."""
    port = free_port()
    config = write_config(tmp_path / "gateway.yaml", port=port, upstream_port=free_port())

    check = await run_healthcheck(tmp_path, "--config", str(config), "--timeout", "1")

    assert check.process.returncode == 1
    [line] = check.stdout.splitlines()
    assert line.startswith(f"unhealthy: http://127.0.0.1:{port}/healthz: ")
    assert "Traceback" not in check.stderr


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "No such file or directory"),
        ("server: {port: 99999}\n", "server.port"),
        ("server: [1, 2]\n", "server: must be a mapping"),
        ("a: &a [*a]\n", "YAML alias"),
    ],
    ids=["missing", "bad-port", "not-a-mapping", "recursive-alias"],
)
async def test_healthcheck_unusable_config_is_unhealthy_never_2(
    tmp_path: Path, text: str | None, reason: str
) -> None:
    """A config it cannot use is reported in one line with exit 1 (Docker reserves 2)."""
    config = tmp_path / "gateway.yaml"
    if text is not None:
        replace_file(config, text)

    check = await run_healthcheck(tmp_path, "--config", str(config))

    assert check.process.returncode == 1
    [line] = check.stdout.splitlines()
    assert line.startswith(f"unhealthy: cannot read {config}: ")
    assert reason in line
