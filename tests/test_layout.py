"""The layout holds: rooms import only from rooms below; serve never loads the simulator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"

# docs/layout.md's order, top to bottom. A room may import from a lower rank only
# (config reads the catalogue's scopes, so it sits just above it).
RANK = {
    "cli": 9,
    "app": 8,
    "edge": 7,
    "engines": 6,
    "state": 5,
    "operations": 4,  # owners and waiting: used by engines and edge, over access and upstream
    "access": 3,
    "upstream": 3,
    "cache": 3,
    "config": 2,
    "catalogue": 1,
    "telemetry": 1,
    "simulator": 1,
    "errors": 0,
    "__init__": 0,
}


def _room_imports() -> list[tuple[str, str, str]]:
    """(module file, its room, the gateway module it imports) for every gateway import."""
    found = []
    for path in sorted(GATEWAY.rglob("*.py")):
        room = path.relative_to(GATEWAY).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gateway"):
                found.append((str(path.relative_to(GATEWAY)), room, str(node.module)))
    return found


def test_layout_every_module_belongs_to_a_ranked_room() -> None:
    """A new room must be placed in the order before it can be used."""
    rooms = {room for _, room, _ in _room_imports()}
    assert rooms <= set(RANK), rooms - set(RANK)


def test_layout_rooms_import_only_from_rooms_below() -> None:
    """cli → edge → engines → operations → access, upstream, cache → config → catalogue,
    telemetry."""
    upward = []
    for module, room, imported in _room_imports():
        parts = imported.split(".")
        target = parts[1] if len(parts) > 1 else "__init__"
        if target != room and RANK[target] >= RANK[room]:
            upward.append(f"{module} ({room}) imports {imported}")
    assert upward == []


def test_layout_serve_does_not_load_the_simulator() -> None:
    """Production `serve` imports none of the simulator's modules."""
    code = (
        "import sys, gateway.cli.serve, gateway.cli.workers, gateway.cli.commands; "
        "print(sorted(m for m in sys.modules if m.startswith('gateway.simulator')))"
    )
    loaded = subprocess.run(  # noqa: S603 - our own interpreter and a constant script
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert loaded.stdout.strip() == "[]"
