"""The README and docs/ against the code: their examples have the real shapes, their steps work."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any

from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from conftest import KEYS, basic_auth_header
from docpages import DOCS, doc_section, read_doc

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LOGIN = "/rest/serverengine/authentication/login"
_SESSION_TOKEN = re.compile(r"olcs_[A-Za-z0-9_.-]{20,}")


def shape(token: str) -> list[tuple[str, int]]:
    """A session token's dot-separated parts: text (and its `:` count) or binary (and size)."""
    described = []
    for part in token.removeprefix("olcs_").split("."):
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        if raw.isascii() and raw.decode().isprintable():
            described.append(("text", raw.decode().count(":")))
        else:
            described.append(("binary", len(raw)))
    return described


async def test_api_doc_session_token_example_has_the_real_format(
    gateway: TestClient[Any, Any],
) -> None:
    """docs/api.md's login answer is shaped like a token the gateway really issues."""
    headers = {hdrs.AUTHORIZATION: basic_auth_header("reader", KEYS["reader"])}
    async with gateway.post(LOGIN, headers=headers) as response:
        issued = await response.text()
    examples = set(_SESSION_TOKEN.findall(read_doc("api")))
    assert examples, "docs/api.md shows no session token"
    for example in examples:
        assert shape(example) == shape(issued), example


def test_docs_typical_set_up_leaves_the_example_config_as_shipped() -> None:
    """No shell step of the README or docs/ edits the tracked config/gateway.yaml in place."""
    texts = [README] + [page.read_text(encoding="utf-8") for page in DOCS.glob("*.md")]
    shell = re.compile(r"```(?:sh|text)\n(.*?)```", re.DOTALL)
    blocks = [block for text in texts for block in shell.findall(text)]
    editing = [
        line
        for block in blocks
        for line in block.splitlines()
        if re.search(r"(\$EDITOR|\bvi\b|\bnano\b|sed -i|>>?)\s*\S*config/gateway\.yaml", line)
    ]
    assert editing == []
    assert "cp config/gateway.yaml " in doc_section("operations", "## Command line")


def test_readme_test_extra_holds_the_speed_extra() -> None:
    """`pip install -e '.[test]'` (the README's step) brings uvloop and orjson for mypy."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras["speed"]) <= set(extras["test"])
    assert "pip install -e '.[test]'" in README
