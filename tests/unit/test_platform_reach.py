"""Platforms use workflow methods, never a workflow's storage: a handler that reads
``app.purchases.store`` or ``app.cook.runner`` skips the checks the workflow makes (who owns
what, the audit, the events), and ties the platform to the database's shape. ``Services``
(workflows/services.py) types what a handler sees, but a workflow's attributes are public
Python, so this reads the platforms' source for the reach (docs/decisions/0024)."""

from __future__ import annotations

import ast
from pathlib import Path

import stationthis

PLATFORMS = Path(stationthis.__file__).parent / "platforms"
# A workflow's internals: its store(s) and the process that drives cook runs.
INTERNALS = {"store", "runner"}


def reaches() -> list[str]:
    found = []
    for path in sorted(PLATFORMS.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in INTERNALS:
                where = path.relative_to(PLATFORMS).as_posix()
                found.append(f"{where}:{node.lineno} .{node.attr}")
    return found


def test_no_platform_reaches_into_a_workflows_store() -> None:
    found = reaches()
    assert not found, "platforms reach past a workflow (add a workflow method): " + ", ".join(
        found)
