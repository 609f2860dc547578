"""The command line, run as real subprocesses: exit codes, one-line errors, the simulator."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from gateway.config.model import key_digest

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "gateway.cli"]
UPSTREAM = """\
upstream:
  url: http://127.0.0.1:9340
  username: ol-admin
  password: ${OLCG_TEST_PASSWORD:-secret}
"""
LOGIN_PATH = "/rest/serverengine/authentication/login"
START_DEADLINE = 15.0  # seconds for the simulator to answer or to exit


def cli_env(**extra: str) -> dict[str, str]:
    """The process environment without `OLCG_CONFIG`, the repo importable, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key != "OLCG_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `olconnect-gateway ARGS` to completion in `cwd` and capture its output."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [*CLI, *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str], code: int = 2) -> None:
    """Exit `code` (2), exactly one line on stderr, no traceback, nothing on stdout."""
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stdout == ""


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def keygen_key(stdout: str) -> str:
    """The plaintext key printed by `keygen` (the indented line after the first)."""
    return stdout.splitlines()[1].strip()


def clients_block(stdout: str) -> str:
    """The `clients:` YAML entry printed by `keygen`."""
    return stdout[stdout.index("clients:") :]


def test_keygen_prints_key_once_and_its_digest(tmp_path: Path) -> None:
    """`keygen` prints a fresh key exactly once and a `clients:` entry holding its SHA-256."""
    result = run_cli("keygen", "--name", "billing", "--scopes", "read,write", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    key = keygen_key(result.stdout)
    assert len(key) >= 40
    assert result.stdout.count(key) == 1
    block = clients_block(result.stdout)
    assert "- name: billing" in block
    assert f"key_sha256: {key_digest(key)}" in block
    assert "scopes: [read, write]" in block
    assert key not in block


def test_keygen_gives_a_new_key_each_time(tmp_path: Path) -> None:
    """Two runs of `keygen` print different keys."""
    first = run_cli("keygen", cwd=tmp_path)
    second = run_cli("keygen", cwd=tmp_path)

    assert keygen_key(first.stdout) != keygen_key(second.stdout)


def test_keygen_output_pasted_into_a_config_passes_check_config(tmp_path: Path) -> None:
    """The printed `clients:` entry, appended to an upstream section, is a valid config."""
    keygen = run_cli("keygen", "--name", "billing", "--scopes", "read,admin", cwd=tmp_path)
    path = tmp_path / "gateway.yaml"
    path.write_text(UPSTREAM + clients_block(keygen.stdout), encoding="utf-8")
    path.chmod(0o600)  # its password default is plaintext: no permission warning

    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: OK"
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["keygen", "--scopes", "read,fly"],
        ["keygen", "--scopes", ","],
        ["keygen", "--name", "a b"],
        ["keygen", "--name", "a:b"],
        ["keygen", "--bogus"],
    ],
    ids=["unknown-scope", "no-scope", "name-with-space", "name-with-colon", "unknown-flag"],
)
def test_keygen_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str]) -> None:
    """Bad `keygen` arguments give exit 2 and one line on stderr, no key."""
    assert_one_line_usage_error(run_cli(*args, cwd=tmp_path))


def test_check_config_reports_each_problem_on_its_own_line(tmp_path: Path) -> None:
    """A broken file gives exit 2 and one stderr line per problem, each naming its key path."""
    path = tmp_path / "broken.yaml"
    path.write_text(
        "server:\n  port: '80'\n"
        "upstream:\n  url: ftp://h\n  username: u\n  password: ${OLCG_TEST_UNSET}\n"
        "clients: []\nbogus: 1\n",
        encoding="utf-8",
    )

    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert sorted(line.split(":", 1)[0] for line in result.stderr.splitlines()) == [
        "bogus",
        "clients",
        "server.port",
        "upstream.password",
        "upstream.url",
    ]
    assert result.stdout == ""


@pytest.mark.parametrize(
    "content", [None, "upstream: [unclosed\n", "- a list\n"], ids=["missing", "yaml", "list"]
)
def test_check_config_unusable_file_is_one_line(tmp_path: Path, content: str | None) -> None:
    """A missing file, a YAML syntax error or a non-mapping gives exit 2 and one line."""
    path = tmp_path / "gateway.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)

    assert_one_line_usage_error(result)
    assert result.stderr.startswith("config: ")


def test_check_config_reads_the_file_named_by_olcg_config(tmp_path: Path) -> None:
    """Without `--config`, `check-config` validates the file `OLCG_CONFIG` names."""
    good = tmp_path / "good.yaml"
    good.write_text(UPSTREAM + clients_block(run_cli("keygen", cwd=tmp_path).stdout))

    result = run_cli("check-config", cwd=tmp_path, env=cli_env(OLCG_CONFIG=str(good)))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{good}: OK"


def test_check_config_option_wins_over_olcg_config(tmp_path: Path) -> None:
    """`--config` takes precedence over `OLCG_CONFIG`."""
    missing = tmp_path / "missing.yaml"
    good = tmp_path / "good.yaml"
    good.write_text(UPSTREAM + clients_block(run_cli("keygen", cwd=tmp_path).stdout))

    result = run_cli(
        "check-config", "--config", str(good), cwd=tmp_path, env=cli_env(OLCG_CONFIG=str(missing))
    )

    assert result.returncode == 0, result.stderr


def test_check_config_defaults_to_config_gateway_yaml(tmp_path: Path) -> None:
    """With neither option nor variable, `check-config` reads `config/gateway.yaml`, and when
    that is missing says how to name another file."""
    result = run_cli("check-config", cwd=tmp_path)

    assert_one_line_usage_error(result)
    assert "config/gateway.yaml" in result.stderr
    assert "--config PATH" in result.stderr
    assert "OLCG_CONFIG" in result.stderr


def test_check_config_accepts_the_shipped_example(tmp_path: Path) -> None:
    """The repository's `config/gateway.yaml` passes once its variables are set."""
    env = cli_env(OLCONNECT_USERNAME="ol-admin", OLCONNECT_PASSWORD="123456")

    result = run_cli("check-config", cwd=REPO, env=env)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["fly"],
        ["simulator", "--port", "99999"],
        ["simulator", "--port", "http"],
        ["simulator", "--token-ttl", "0"],
        ["simulator", "--segments", "0"],
        ["demo", "--port", "-1"],
        ["serve", "--bogus"],
    ],
    ids=[
        "no-command",
        "unknown-command",
        "port-too-big",
        "port-not-a-number",
        "zero-token-ttl",
        "zero-segments",
        "demo-negative-port",
        "serve-unknown-flag",
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str]) -> None:
    """Unknown subcommands and bad options give exit 2 and one line on stderr."""
    result = run_cli(*args, cwd=tmp_path)

    assert_one_line_usage_error(result)
    assert result.stderr.startswith("olconnect-gateway")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("missing.yaml", None),
        ("syntax.yaml", "segments: [unclosed\n"),
        ("list.yaml", "- 1\n- 2\n"),
        ("broken.json", "{not json"),
    ],
    ids=["missing", "yaml-syntax", "not-a-mapping", "bad-json"],
)
def test_simulator_bad_seed_exits_2_with_one_line(
    tmp_path: Path, name: str, content: str | None
) -> None:
    """`simulator --seed` with an unusable file gives exit 2 and one line naming the file."""
    seed = tmp_path / name
    if content is not None:
        seed.write_text(content, encoding="utf-8")

    result = run_cli("simulator", "--port", str(free_port()), "--seed", str(seed), cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert str(seed) in result.stderr


def test_simulator_port_in_use_exits_2_with_one_line(tmp_path: Path) -> None:
    """A simulator whose port is taken exits 2 with one line on stderr."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_cli("simulator", "--port", str(port), cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def login(port: int, user: str, password: str) -> tuple[int, str, str | None]:
    """POST an OL Connect Basic login; its status, body and `Token-Expires-In`."""
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{LOGIN_PATH}",
        method="POST",
        headers={"Authorization": f"Basic {credentials}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode(), response.headers["Token-Expires-In"]
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), None


def wait_until_serving(process: subprocess.Popen[str], port: int) -> None:
    """Poll the simulator's login URL until it answers, within `START_DEADLINE`."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"simulator exited early with {process.returncode}")
        try:
            login(port, "", "")
        except OSError:
            time.sleep(0.05)  # not listening yet; poll again
        else:
            return
    pytest.fail(f"simulator did not answer on port {port} within {START_DEADLINE}s")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; any still running at the end are killed."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=START_DEADLINE)


def spawn_simulator(
    processes: list[subprocess.Popen[str]], *args: str
) -> tuple[int, subprocess.Popen[str]]:
    """Start `olconnect-gateway simulator` on a free port and wait until it answers."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [*CLI, "simulator", "--port", str(port), *args],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(process)
    wait_until_serving(process, port)
    return port, process


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_simulator_serves_logins_and_stops_cleanly_on_signal(
    processes: list[subprocess.Popen[str]], stop: signal.Signals
) -> None:
    """The simulator answers a Basic login with a token and exits 0 on SIGTERM or SIGINT."""
    port, process = spawn_simulator(
        processes, "--username", "alice", "--password", "wonder", "--token-ttl", "120"
    )

    status, token, expires_in = login(port, "alice", "wonder")
    wrong_status, _, _ = login(port, "alice", "nope")
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=START_DEADLINE)

    assert status == 200
    assert token.strip()
    assert expires_in == "120"
    assert wrong_status == 401
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"127.0.0.1:{port}" in stdout


def test_simulator_can_omit_token_expiry_header(
    processes: list[subprocess.Popen[str]],
) -> None:
    """`--no-token-expiry-header` answers logins without `Token-Expires-In`, like old servers."""
    port, _ = spawn_simulator(processes, "--no-token-expiry-header")

    status, token, expires_in = login(port, "ol-admin", "secret")

    assert status == 200
    assert token.strip()
    assert expires_in is None


def test_cli_version_prints_the_package_version(tmp_path: Path) -> None:
    """`--version` prints the program name and the installed version, exit 0."""
    result = run_cli("--version", cwd=tmp_path)

    assert result.returncode == 0
    assert result.stdout.strip() == f"olconnect-gateway {version('olconnect-gateway')}"


@pytest.mark.parametrize("command", ["serve", "check-config", "healthcheck"])
def test_cli_empty_config_option_is_an_error(tmp_path: Path, command: str) -> None:
    """`--config ''` is a usage error, not a silent fall-back to the default file."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "gateway.yaml").write_text("server: {port: 8080}\n")

    result = run_cli(command, "--config", "", cwd=tmp_path)

    # healthcheck says "not healthy" (1): Docker reserves exit 2.
    assert_one_line_usage_error(result, 1 if command == "healthcheck" else 2)
    assert "--config: must not be empty" in result.stderr


def config_with_host(tmp_path: Path, host: str) -> Path:
    path = tmp_path / "gateway.yaml"
    clients = clients_block(run_cli("keygen", cwd=tmp_path).stdout)
    path.write_text(f"server:\n  host: '{host}'\n  port: {free_port()}\n" + UPSTREAM + clients)
    path.chmod(0o600)  # its password default is plaintext: no permission warning
    return path


UNUSABLE_HOSTS = {
    "999.1.1.1": "server.host: '999.1.1.1' does not resolve",
    "192.0.2.1": "server.host: ",  # TEST-NET-1: resolves, but is no address of this machine
}


@pytest.mark.parametrize("host", list(UNUSABLE_HOSTS))
def test_check_config_warns_about_a_host_it_cannot_listen_on(tmp_path: Path, host: str) -> None:
    """A `server.host` that does not resolve or bind is one warning line; the file is still OK."""
    path = config_with_host(tmp_path, host)

    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)

    assert result.returncode == 0
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: " + UNUSABLE_HOSTS[host])
    assert result.stdout.strip() == f"{path}: OK"


@pytest.mark.parametrize("host", list(UNUSABLE_HOSTS))
def test_serve_on_a_host_it_cannot_listen_on_exits_2_naming_the_key(
    tmp_path: Path, host: str
) -> None:
    """`serve` fails with one line naming `server.host` instead of a bare resolver message."""
    path = config_with_host(tmp_path, host)

    result = run_cli("serve", "--config", str(path), cwd=tmp_path)

    assert_one_line_usage_error(result)
    assert result.stderr.startswith("olconnect-gateway: error: server.host: ")


def test_check_config_alias_bomb_is_one_line(tmp_path: Path) -> None:
    """A self-referencing YAML alias gives exit 2 and one line, not a RecursionError."""
    path = tmp_path / "gateway.yaml"
    path.write_text("a: &a [*a]\n")

    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)

    assert_one_line_usage_error(result)
    assert result.stderr.startswith("config: YAML alias refers to")
