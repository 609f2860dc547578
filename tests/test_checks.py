"""check-config's warnings and the bounds on the command line (SPEC §12.4, §12.6), as
real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import assert_one_line_usage_error, cli_env, run_cli

from gateway.cli.workers import MAX_PER_CPU, usable_cpus
from gateway.config.model import key_digest

TOO_MANY = str(MAX_PER_CPU * usable_cpus() + 1)
CLIENT = f"clients:\n  - name: billing\n    key_sha256: {key_digest('k' * 40)}\n"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def upstream(password: str = "${OLCG_TEST_PASSWORD}") -> str:  # noqa: S107 - a ${VAR}
    return (
        f"upstream:\n  url: http://127.0.0.1:9340\n  username: ol-admin\n  password: '{password}'\n"
    )


def check(path: Path, *extra: str) -> tuple[int, list[str], str]:
    result = run_cli(
        "check-config",
        "--config",
        str(path),
        *extra,
        cwd=path.parent,
        env=cli_env(OLCG_TEST_PASSWORD="from-the-environment"),
    )
    return result.returncode, result.stderr.splitlines(), result.stdout


def test_check_config_clean_file_has_no_warning(tmp_path: Path) -> None:
    """A private file, secrets from the environment, live clients: OK and nothing else."""
    code, warnings, out = check(write(tmp_path, upstream() + CLIENT, 0o644))
    assert (code, warnings) == (0, [])
    assert out.strip().endswith(": OK")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (upstream("hunter2-in-the-file") + CLIENT, "upstream.password"),
        (
            "server:\n  session_secret: '" + "s" * 40 + "'\n" + upstream() + CLIENT,
            "server.session_secret",
        ),
    ],
    ids=["password", "session-secret"],
)
def test_check_config_warns_on_a_readable_plaintext_secret(
    tmp_path: Path, text: str, key: str
) -> None:
    """A secret written in a file others may read is one warning naming the key, never the
    value; the same file at mode 0600 draws none."""
    code, warnings, _ = check(write(tmp_path, text, 0o644))
    assert code == 0
    [warning] = warnings
    assert warning.startswith(f"warning: {key}: written in plain text")
    assert "other" in warning
    assert "chmod 600" in warning
    assert "hunter2" not in warning
    assert "s" * 40 not in warning
    assert check(write(tmp_path, text, 0o600))[1] == []


def test_check_config_warns_on_an_expired_client(tmp_path: Path) -> None:
    """A client whose expires_at has passed is a warning naming it; a future one is not."""
    text = (
        upstream()
        + CLIENT
        + "    expires_at: 2020-01-01T00:00:00Z\n"
        + f"  - name: later\n    key_sha256: {key_digest('l' * 40)}\n"
        + "    expires_at: 2999-01-01T00:00:00Z\n"
    )
    code, warnings, out = check(write(tmp_path, text))
    assert code == 0
    assert warnings == [
        "warning: clients.0.expires_at: billing expired at 2020-01-01T00:00:00+00:00: "
        "every key of it is refused"
    ]
    assert out.strip().endswith(": OK")


def test_check_config_workers_with_memory_cache_warns(tmp_path: Path) -> None:
    """--workers 2 with the memory back-end warns that workers do not share invalidations;
    with Redis it does not."""
    path = write(tmp_path, upstream() + CLIENT)
    [warning] = check(path, "--workers", "2")[1]
    assert warning.startswith("warning: cache.backend: memory with 2 workers")
    redis = write(tmp_path, upstream() + CLIENT + "cache:\n  backend: redis\n")
    assert check(redis, "--workers", "2")[1] == []
    assert check(redis, "--workers", "auto")[0] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--workers", TOO_MANY],
        ["serve", "--workers", "0"],
        ["serve", "--workers", "many"],
        ["check-config", "--workers", TOO_MANY],
        ["demo", "--port", "0"],
        ["demo", "--port", "65536"],
        ["simulator", "--port", "0"],
    ],
    ids=[
        "workers-over-bound",
        "workers-zero",
        "workers-word",
        "check-workers-over-bound",
        "demo-port-0",
        "demo-port-too-big",
        "simulator-port-0",
    ],
)
def test_cli_bounds_are_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    """Out-of-bound --workers and ports: one line on stderr, exit 2, nothing started."""
    result = run_cli(*args, cwd=tmp_path)
    assert_one_line_usage_error(result)
    if args[1] == "--workers" and args[2] == TOO_MANY:
        assert f"more than {MAX_PER_CPU} per usable CPU" in result.stderr


@pytest.mark.parametrize("timeout", ["-1", "soon"])
def test_healthcheck_bad_timeout_is_one_line_exit_1(tmp_path: Path, timeout: str) -> None:
    """healthcheck's bad arguments are "not healthy" (exit 1, as its --help says), never 2,
    which Docker reserves."""
    result = run_cli("healthcheck", "--timeout", timeout, cwd=tmp_path)
    assert_one_line_usage_error(result, 1)
    assert "--timeout" in result.stderr


def test_healthcheck_help_promises_exit_1_when_not_healthy(tmp_path: Path) -> None:
    """The promise the bad-argument exit keeps."""
    assert "exit 0 healthy, 1 not" in run_cli("--help", cwd=tmp_path).stdout
