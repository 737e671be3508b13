"""The systemd units in docs/deploy start real commands of our CLI with real options, and
name only settings that exist: an operator who copies them gets a working service."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from stationthis.config import Settings
from tests.cluster.processes import STATIONTHIS, clean_env

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))


def directives(unit: Path) -> dict[str, list[str]]:
    """Key -> values of a unit file (keys may repeat; comments and sections skipped)."""
    found: dict[str, list[str]] = {}
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_there_are_a_web_unit_and_a_worker_template() -> None:
    names = {unit.name for unit in UNITS}
    assert {"stationthis-web.service", "stationthis-worker@.service"} <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_exec_start_is_a_command_of_our_cli(unit: Path) -> None:
    [exec_start] = directives(unit)["ExecStart"]
    program, *args = shlex.split(exec_start)
    assert Path(program).name == "stationthis", exec_start
    assert args and not args[0].startswith("-"), exec_start  # a subcommand
    # Unknown commands or options make --help fail (exit 2) before any help is shown.
    done = subprocess.run([str(STATIONTHIS), *args, "--help"], capture_output=True, text=True,
                          env=clean_env({}), timeout=60)
    assert done.returncode == 0, f"{exec_start}: {done.stdout}{done.stderr}"
    assert f"stationthis {args[0]}" in done.stdout


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_settings_a_unit_names_exist(unit: Path) -> None:
    named = set(re.findall(r"\bSTATIONTHIS_([A-Z0-9_]+)", unit.read_text()))
    assert named
    for name in named:
        top = name.lower().split("__")[0]
        assert top in Settings.model_fields, f"{unit.name}: STATIONTHIS_{name} is no setting"


def test_the_worker_unit_gives_the_grace_period_time_to_end() -> None:
    worker = directives(DEPLOY / "stationthis-worker@.service")
    grace = Settings.model_fields["worker_grace_seconds"].default
    assert worker["KillSignal"] == ["SIGTERM"]
    assert float(worker["TimeoutStopSec"][0]) > grace + 10
