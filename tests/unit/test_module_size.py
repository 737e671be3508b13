"""No module of the package is over 400 lines: a newcomer reads a module in one sitting, and a
module that grows past that has found a seam to split along. The exceptions are named here,
each with why, and an exception that is no longer over the limit must leave the list."""

from __future__ import annotations

from pathlib import Path

import stationthis

LIMIT = 400
PACKAGE = Path(stationthis.__file__).parent

# Modules allowed over the limit, each with why (none today: add one only with a reason).
EXCEPTIONS: dict[str, str] = {}


def sizes() -> dict[str, int]:
    return {path.relative_to(PACKAGE).as_posix(): len(path.read_text("utf-8").splitlines())
            for path in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_is_over_the_limit() -> None:
    over = {name: n for name, n in sizes().items() if n > LIMIT and name not in EXCEPTIONS}
    assert not over, "modules over {} lines (split them along a seam): {}".format(
        LIMIT, ", ".join(f"{name} ({n})" for name, n in sorted(over.items(), key=lambda x: -x[1])))


def test_every_exception_is_still_needed() -> None:
    found = sizes()
    stale = [name for name in EXCEPTIONS if found.get(name, 0) <= LIMIT]
    assert not stale, f"no longer over {LIMIT} lines (or gone): remove from EXCEPTIONS: {stale}"
