"""docs/SECURITY.md's threat table names, for every threat, tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "SECURITY.md"
_FILE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_security_threat_table_names_existing_tests() -> None:
    """Every `tests/x.py::name` (and `::name` after it in the same cell) is a real test."""
    rows = [
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if re.match(r"\| \d+ \|", line)
    ]
    assert len(rows) == 25
    for row in rows:
        cell = row.rstrip("|").rsplit("|", 1)[1]
        files = _FILE.findall(cell)
        assert files, f"no test named in: {row[:60]}"
        current = ROOT / files[0][0]
        for token in re.finditer(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`", cell):
            if token.group(1):
                current = ROOT / token.group(1)
                assert current.exists(), token.group(1)
            name = token.group(2) or token.group(3)
            if name:
                assert name in _tests_in(current), f"{current.name}::{name}"
