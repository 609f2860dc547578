"""The start-up warning for a config file that others may read while it holds the password."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from processes import (  # *_fixture: imported so pytest finds them in this module
    UPSTREAM_ENV,
    UPSTREAM_PASSWORD,
    Child,
    assert_no_secrets,
    free_port,
    upstream_fixture,  # noqa: F401
    wait_http,
    write_config,
)

from gateway.config.filecheck import warn_if_exposed

PASSWORD = "hunter2-plain-in-file"


def config_text(password: str) -> str:
    return (
        "upstream:\n"
        "  url: http://127.0.0.1:9340\n"
        "  username: ol-admin\n"
        f"  password: {password}\n"
        "clients: []\n"
    )


def events(log_output: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in log_output.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("password", "mode", "warns"),
    [
        (PASSWORD, 0o644, True),
        (PASSWORD, 0o640, True),  # group-readable is readable by others too
        (PASSWORD, 0o604, True),
        (PASSWORD, 0o600, False),
        (PASSWORD, 0o400, False),
        ("${OLCONNECT_PASSWORD}", 0o644, False),  # the secret lives in the environment
        ('"${OLCONNECT_PASSWORD}"', 0o644, False),
        ("${OLCONNECT_PASSWORD:-" + PASSWORD + "}", 0o644, True),  # a default is plaintext
    ],
)
def test_filecheck_warns_only_for_a_readable_plaintext_password(
    tmp_path: Path, log_output: io.StringIO, password: str, mode: int, warns: bool
) -> None:
    """The warning needs both: group/other may read the file, and it writes the password."""
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text(password), encoding="utf-8")
    path.chmod(mode)

    assert warn_if_exposed(path) is warns
    logged = [e for e in events(log_output) if e["event"] == "config_file_permissions"]
    assert len(logged) == int(warns)
    if warns:
        assert logged[0]["level"] == "warning"
        assert logged[0]["mode"] == oct(mode)
        assert logged[0]["path"] == str(path)
    assert PASSWORD not in log_output.getvalue()


def test_filecheck_ignores_unreadable_or_broken_files(
    tmp_path: Path, log_output: io.StringIO
) -> None:
    """A missing or unparsable file is the config loader's to report, not this check's."""
    assert warn_if_exposed(tmp_path / "missing.yaml") is False
    broken = tmp_path / "broken.yaml"
    broken.write_text("upstream: [password: x", encoding="utf-8")
    broken.chmod(0o644)
    assert warn_if_exposed(broken) is False
    assert log_output.getvalue() == ""


async def test_filecheck_serve_warns_at_startup(upstream: str, tmp_path: Path) -> None:
    """`serve` with a world-readable config holding the password warns, without the secret."""
    port = free_port()
    config = write_config(
        tmp_path / "gateway.yaml",
        port=port,
        upstream_port=int(upstream.rsplit(":", 1)[1]),
        upstream={"password": UPSTREAM_PASSWORD},
    )
    config.chmod(0o644)
    child = Child(["serve", "--config", str(config)], tmp_path, UPSTREAM_ENV)
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz", child)
    finally:
        child.kill()
    [event] = [e for e in child.log_events() if e["event"] == "config_file_permissions"]
    assert event["readable_by"] == ["group", "other"]
    assert_no_secrets(child.stdout + child.stderr, [UPSTREAM_PASSWORD])


SESSION_SECRET = "plain-session-secret-0123456789abcdef"


@pytest.mark.parametrize(
    ("secret", "mode", "warns"),
    [
        (SESSION_SECRET, 0o644, True),
        (SESSION_SECRET, 0o640, True),
        (SESSION_SECRET, 0o600, False),
        ("${OLCG_SESSION_SECRET}", 0o644, False),
        ("${OLCG_SESSION_SECRET:-" + SESSION_SECRET + "}", 0o644, True),
    ],
)
def test_filecheck_warns_for_a_readable_plaintext_session_secret(
    tmp_path: Path, log_output: io.StringIO, secret: str, mode: int, warns: bool
) -> None:
    """A session secret written in a file others may read warns like a password, naming the key."""
    path = tmp_path / "gateway.yaml"
    text = config_text("${OLCONNECT_PASSWORD}") + f"server:\n  session_secret: {secret}\n"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)

    assert warn_if_exposed(path) is warns
    logged = [e for e in events(log_output) if e["event"] == "config_file_permissions"]
    assert len(logged) == int(warns)
    if warns:
        assert logged[0]["plaintext"] == ["server.session_secret"]
    assert SESSION_SECRET not in log_output.getvalue()
