"""End to end: the real ``stationthis`` command, as an operator runs it.

Every test runs the installed console script as a subprocess, in its own working directory
(so no stray ``.env`` is read) with ``STATIONTHIS_DATA_DIR`` in a temp folder and every other
``STATIONTHIS_*`` variable removed from the environment. The embedded SQLite default migrates
itself; the PostgreSQL test creates an empty database and runs ``stationthis db upgrade``.

Several tests began as strict-xfail bug reports (tracebacks instead of one clear line, a
port out of range accepted, other programs' lines in .env refused); they guard the fixes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

STATIONTHIS = Path(sys.executable).parent / "stationthis"
TIMEOUT_S = 60.0
BUILTIN_TOOLS = Path(__file__).resolve().parents[2] / "src" / "stationthis" / "builtin_tools"
# Allowance ticks are aligned to the wall clock (every 900 s by default), so a refill could land
# between two commands of a test and change a balance. One tick every ~127 years: no refill.
NO_REFILL = {"STATIONTHIS_ALLOWANCE__INTERVAL_SECONDS": "4000000000"}
# The built-in tools (name → category), read from their files: the lists below follow them.
BUILTIN = {data["name"]: data["category"] for data in (
    json.loads(path.read_text(encoding="utf-8")) for path in BUILTIN_TOOLS.glob("*.json"))}
PRICED = {name for name, category in BUILTIN.items() if category != "train"}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def __str__(self) -> str:  # shown by pytest when an assertion on a Result fails
        return f"exit {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


def clean_env(**settings: str) -> dict[str, str]:
    """os.environ without any STATIONTHIS_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
    env.update(settings)
    return env


def finish(process: subprocess.Popen[str], timeout: float = TIMEOUT_S) -> Result:
    """Wait for a started command; kill it if it runs past ``timeout``."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return Result(process.returncode, out, err)


class Station:
    """The ``stationthis`` command with its own working directory and data directory.

    ``station(*args)`` runs a command to the end; ``station.start(*args)`` starts one, so that
    independent commands can run side by side (each takes ~1 s just to import), then
    ``finish(process)`` collects it.
    """

    def __init__(self, root: Path, **settings: str) -> None:
        self.root = root
        self.workdir = root / "work"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = root / "data"
        self.settings = {"STATIONTHIS_DATA_DIR": str(self.data_dir), **settings}

    def start(self, *args: str, **settings: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(STATIONTHIS), *args],
            cwd=self.workdir,
            env=clean_env(**{**self.settings, **settings}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, *args: str, **settings: str) -> Result:
        return finish(self.start(*args, **settings))

    def ok(self, *args: str, **settings: str) -> Result:
        result = self(*args, **settings)
        assert result.code == 0, str(result)
        return result

    @staticmethod
    def parse_balance(result: Result) -> tuple[int, int, int]:
        """(total, allowance, credit) from the output of ``points balance USER``."""
        assert result.code == 0, str(result)
        found = re.search(r": (\d+) points \(allowance (\d+)/\d+, credit (\d+)\)", result.out)
        assert found, str(result)
        total, allowance, credit = (int(g) for g in found.groups())
        return total, allowance, credit

    def balance(self, user: str, **settings: str) -> tuple[int, int, int]:
        return self.parse_balance(self("points", "balance", user, **settings))


@pytest.fixture
def station(tmp_path: Path) -> Station:
    return Station(tmp_path)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


# --- make: an image, its cost, and the ledger ---------------------------------------------


@dataclass(frozen=True)
class Made:
    result: Result
    image: Path
    cost: int
    job: str


@dataclass(frozen=True)
class MakeRuns:
    station: Station
    fox: Made
    fox_again: Made
    whale: Made
    history: Result


def _make(station: Station, prompt: str, out: Path) -> Made:
    result = station.ok("make", prompt, "--seed", "7", "--out", str(out))
    image = re.search(r"^image: (.+\.png) \((\d+)×(\d+)\)$", result.out, re.MULTILINE)
    cost = re.search(r"\bcost (\d+) points\b", result.out)
    assert image and cost, str(result)
    path = Path(image.group(1))
    with Image.open(path) as im:
        job = im.text["stationthis:job"]  # type: ignore[attr-defined]
    return Made(result, path, int(cost.group(1)), job)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> MakeRuns:
    """Three ``make`` runs on one fresh data dir, then the ledger (run once for this module)."""
    root = tmp_path_factory.mktemp("make")
    station = Station(root, **NO_REFILL)
    fox = _make(station, "a red fox", root / "out1")
    fox_again = _make(station, "a red fox", root / "out2")
    whale = _make(station, "a blue whale in a storm", root / "out3")
    history = station.ok("points", "history", "local", "--limit", "50")
    return MakeRuns(station, fox, fox_again, whale, history)


def test_make_prints_the_image_path_and_the_cost(runs: MakeRuns) -> None:
    out = runs.fox.result.out
    assert runs.fox.image.parent == runs.station.root / "out1"
    assert runs.fox.image.is_file()
    assert f"image: {runs.fox.image} (512×512)" in out
    assert runs.fox.cost > 0
    assert f"make: {runs.fox.cost} points (you have 1000)" in out  # the quote came first
    assert "seed 7" in out


def test_make_writes_a_512_png_made_by_the_preview_engine(runs: MakeRuns) -> None:
    with Image.open(runs.fox.image) as im:
        assert im.format == "PNG"
        assert im.size == (512, 512)
        text = im.text  # type: ignore[attr-defined]
    assert text["stationthis:engine"] == "preview"
    assert text["stationthis:prompt"] == "a red fox"
    assert text["stationthis:seed"] == "7"


def test_same_prompt_and_seed_give_the_same_pixels(runs: MakeRuns) -> None:
    assert runs.fox.job != runs.fox_again.job  # two jobs, two files ...
    assert runs.fox.image.read_bytes() != runs.fox_again.image.read_bytes()  # job id inside
    assert np.array_equal(pixels(runs.fox.image), pixels(runs.fox_again.image))  # same picture


def test_a_different_prompt_gives_a_clearly_different_image(runs: MakeRuns) -> None:
    a, b = pixels(runs.fox.image), pixels(runs.whale.image)
    assert a.shape == b.shape
    mean_abs_diff = float(np.abs(a - b).mean())
    changed = float((np.abs(a - b).max(axis=2) > 16).mean())
    assert mean_abs_diff > 10, mean_abs_diff
    assert changed > 0.25, changed


def test_history_shows_the_hold_capture_and_release_of_each_job(runs: MakeRuns) -> None:
    for made in (runs.fox, runs.fox_again, runs.whale):
        rows = [line for line in runs.history.out.splitlines() if f"job:{made.job}" in line]
        kinds = sorted(line.split()[2] for line in rows)
        assert kinds == ["capture", "hold", "release"], runs.history.out
        hold = next(line for line in rows if line.split()[2] == "hold")
        assert f"-{made.cost}" in hold.split()
        capture = next(line for line in rows if line.split()[2] == "capture")
        assert f"charged {made.cost}" in capture


def test_balance_is_the_allowance_minus_the_costs(runs: MakeRuns) -> None:
    spent = runs.fox.cost + runs.fox_again.cost + runs.whale.cost
    assert runs.station.balance("local") == (1000 - spent, 1000 - spent, 0)
    assert f"balance {1000 - spent}" in runs.whale.result.out


# --- points --------------------------------------------------------------------------------


def test_grant_adds_credit_once_per_key(station: Station) -> None:
    station.ok("users", "add", "alice")
    first = station.ok("points", "grant", "alice", "500", "--key", "order-42")
    again = station.ok("points", "grant", "alice", "500", "--key", "order-42")
    assert first.out.strip() == "granted · balance 1500"  # allowance 1000 + credit 500
    assert again.out.strip() == "already granted (same key) · balance 1500"
    assert station.balance("alice") == (1500, 1000, 500)


# --- make: rejected requests cost nothing ------------------------------------------------

REJECTED = {
    "width": (["a fox", "--width", "99999"], ["width", "between 64 and 2048", "99999"]),
    "tool": (
        ["a fox", "--tool", "nope"],
        ["unknown tool 'nope'", "available: " + ", ".join(sorted(BUILTIN))],
    ),
    "prompt-length": (["x" * 3000], ["prompt", "3000", "limit is 2000"]),
}


@dataclass(frozen=True)
class Rejections:
    results: dict[str, Result]
    balance_after: tuple[int, int, int]


@pytest.fixture(scope="module")
def rejections(tmp_path_factory: pytest.TempPathFactory) -> Rejections:
    """``local`` gets 100 points of credit; then each bad request; then the balance."""
    station = Station(tmp_path_factory.mktemp("rejections"), **NO_REFILL)
    station.ok("points", "grant", "local", "100", "--key", "setup")
    started = {case: station.start("make", *args) for case, (args, _) in REJECTED.items()}
    results = {case: finish(process) for case, process in started.items()}
    return Rejections(results, station.balance("local"))


@pytest.mark.parametrize("case", list(REJECTED))
def test_a_rejected_request_says_why_in_one_line(rejections: Rejections, case: str) -> None:
    result = rejections.results[case]
    assert result.code != 0, str(result)
    assert "Traceback" not in result.err
    assert len(result.err_lines) == 1, str(result)
    line = result.err_lines[0]
    assert line.startswith("error: "), line
    for fragment in REJECTED[case][1]:
        assert fragment in line, line


def test_rejected_requests_cost_nothing(rejections: Rejections) -> None:
    assert rejections.balance_after == (1100, 1000, 100)


def test_too_few_points_gives_the_quote_the_balance_and_what_fits(station: Station) -> None:
    low = {"STATIONTHIS_ALLOWANCE__AMOUNT": "20", **NO_REFILL}
    result = station("make", "a fox", "--width", "2048", "--height", "2048", **low)
    assert result.code != 0, str(result)
    assert "Traceback" not in result.err
    quote = re.search(r"costs (\d+) points but only (\d+) are available", result.err_lines[0])
    assert quote, str(result)
    assert int(quote.group(1)) > 20
    assert quote.group(2) == "20"
    fits = [re.search(r"^\s*fits: .+ (\d+) points$", line) for line in result.err_lines[1:]]
    assert fits, str(result)
    for found in fits:
        assert found, str(result)
        assert int(found.group(1)) <= 20
    assert station.balance("local", **low) == (20, 20, 0)  # nothing held, nothing lost


# --- settings ------------------------------------------------------------------------------

BAD_SETTINGS = {
    "STATIONTHIS_PORT": "99999",
    "STATIONTHIS_ALLOWANCE__STEPS": "0",  # nested
    "STATIONTHIS_ALLOWANCE__NOPE": "1",  # unknown *nested* names are refused
    "STATIONTHIS_LOG_LEVEL": "LOUD",
}
DOTENV = {
    "read": "STATIONTHIS_ALLOWANCE__AMOUNT=250\n",
    "unknown": "STATIONTHIS_FOO=1\n",
    "unrelated": "OTHER_APP_TOKEN=abc\nSTATIONTHIS_ALLOWANCE__AMOUNT=250\n",
}


@dataclass(frozen=True)
class SettingsRuns:
    stations: dict[str, Station]
    results: dict[str, Result]


@pytest.fixture(scope="module")
def settings_runs(tmp_path_factory: pytest.TempPathFactory) -> SettingsRuns:
    """``points balance local`` under each bad setting, an unknown one and several ``.env`` files,
    each in its own fresh directory, side by side."""
    stations: dict[str, Station] = {}
    started: dict[str, subprocess.Popen[str]] = {}
    cases = {**BAD_SETTINGS, "STATIONTHIS_FOO": "1"}
    for variable, value in cases.items():
        stations[variable] = Station(tmp_path_factory.mktemp("settings"))
        started[variable] = stations[variable].start("points", "balance", "local",
                                                     **{variable: value})
    for case, content in DOTENV.items():
        stations[case] = Station(tmp_path_factory.mktemp("dotenv"))
        (stations[case].workdir / ".env").write_text(content)
        started[case] = stations[case].start("points", "balance", "local")
    return SettingsRuns(stations, {case: finish(p) for case, p in started.items()})


@pytest.mark.parametrize("variable", list(BAD_SETTINGS))
def test_an_invalid_setting_stops_start_up_with_one_line_naming_it(
    settings_runs: SettingsRuns, variable: str
) -> None:
    result = settings_runs.results[variable]
    assert result.code == 2, str(result)
    assert result.out == ""
    assert len(result.err_lines) == 1, str(result)
    assert result.err_lines[0].startswith(f"error: invalid setting {variable}: "), str(result)
    assert f"(got '{BAD_SETTINGS[variable]}')" in result.err_lines[0]
    assert not settings_runs.stations[variable].data_dir.exists()  # stopped before the db


def test_a_misspelt_setting_is_one_line_naming_it(settings_runs: SettingsRuns) -> None:
    """A typo such as ``STATIONTHIS_DATABSE_URL`` must not silently fall back to a default."""
    result = settings_runs.results["STATIONTHIS_FOO"]
    assert result.code == 2, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "STATIONTHIS_FOO" in lines[0]


def test_settings_in_dotenv_are_read(settings_runs: SettingsRuns) -> None:
    assert Station.parse_balance(settings_runs.results["read"]) == (250, 250, 0)


def test_an_unknown_setting_in_dotenv_is_named_correctly(settings_runs: SettingsRuns) -> None:
    result = settings_runs.results["unknown"]
    assert result.code == 2, str(result)
    assert result.err_lines == [
        "error: invalid setting STATIONTHIS_FOO: Extra inputs are not permitted (got '1')"
    ]


def test_unrelated_variables_in_dotenv_are_ignored(settings_runs: SettingsRuns) -> None:
    assert Station.parse_balance(settings_runs.results["unrelated"]) == (250, 250, 0)


# --- tools ---------------------------------------------------------------------------------

BROKEN_TOOLS = {
    "bad-json": ('{"name": "broken",', "not valid JSON"),
    "bad-shape": ('{"name": "broken"}', "missing 'category'"),
}


def _tool_prices(out: str) -> dict[str, int]:
    """{tool name: price} from ``tools list`` (the lines of inputs are indented)."""
    prices = {}
    for line in out.splitlines():
        found = re.match(r"^(\S+)\s+\S+\s+from (\d+) points", line)
        if found:
            prices[found.group(1)] = int(found.group(2))
    return prices


@pytest.fixture(scope="module")
def tools_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """``tools list`` plain, with a custom tool, and with each broken tool file."""
    station = Station(tmp_path_factory.mktemp("tools"))
    dirs: dict[str, Path] = {}
    for case in ("custom", *BROKEN_TOOLS):
        dirs[case] = station.root / case
        dirs[case].mkdir()
    sketch = json.loads((BUILTIN_TOOLS / "make.json").read_text())
    sketch["name"] = "sketch"
    sketch["description"] = "A quick sketch."
    (dirs["custom"] / "sketch.json").write_text(json.dumps(sketch))
    for case, (content, _) in BROKEN_TOOLS.items():
        (dirs[case] / "broken.json").write_text(content)
    started = {"builtin": station.start("tools", "list")} | {
        case: station.start("tools", "list", STATIONTHIS_TOOLS_DIR=str(folder))
        for case, folder in dirs.items()
    }
    return {case: finish(process) for case, process in started.items()}


def test_tools_list_shows_the_builtin_tools_with_prices(tools_runs: dict[str, Result]) -> None:
    result = tools_runs["builtin"]
    assert result.code == 0, str(result)
    prices = _tool_prices(result.out)
    assert set(prices) == PRICED, result.out
    assert {"make", "img2img", "upscale", "rmbg", "outpaint", "inpaint", "caption", "describe",
            "reference", "reference-pose", "reference-depth", "reference-style"} <= PRICED
    assert all(price > 0 for price in prices.values())
    assert "    width: int [64..2048] = 512" in result.out


def test_tools_list_includes_a_custom_tool_from_the_tools_dir(
    tools_runs: dict[str, Result],
) -> None:
    result = tools_runs["custom"]
    assert result.code == 0, str(result)
    prices = _tool_prices(result.out)
    assert set(prices) == PRICED | {"sketch"}, result.out
    assert prices["sketch"] == prices["make"]
    assert "A quick sketch." in result.out


@pytest.mark.parametrize("case", list(BROKEN_TOOLS))
def test_a_broken_tool_file_is_named_in_one_line(
    tools_runs: dict[str, Result], case: str
) -> None:
    result = tools_runs[case]
    assert result.code != 0, str(result)
    assert len(result.err_lines) == 1, str(result)
    line = result.err_lines[0]
    assert line.startswith("error: ") and "broken.json" in line, line
    assert BROKEN_TOOLS[case][1] in line, line


# --- the database --------------------------------------------------------------------------

UNREACHABLE_DB = "postgresql+asyncpg://nobody@127.0.0.1:1/x"


def test_an_unreachable_database_is_one_clear_line(station: Station) -> None:
    result = station("points", "balance", "x", STATIONTHIS_DATABASE_URL=UNREACHABLE_DB)
    assert result.code != 0, str(result)
    assert "Traceback" not in result.err, str(result)
    assert len(result.err_lines) == 1, str(result)
    assert "database" in result.err_lines[0].lower()


@pytest.fixture
def empty_pg_url(pg_server: str) -> Iterator[str]:
    """A new, empty (not migrated) PostgreSQL database on the session's test server."""
    import asyncpg

    base = pg_server.rpartition("/")[0]
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    dsn = base.replace("postgresql+asyncpg", "postgresql") + "/postgres"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgres
def test_db_upgrade_then_make_on_postgres(station: Station, empty_pg_url: str) -> None:
    pg = {"STATIONTHIS_DATABASE_URL": empty_pg_url, **NO_REFILL}
    assert station.ok("db", "upgrade", **pg).out.strip() == "database is up to date"
    made = station.ok("make", "a lighthouse", "--seed", "3", **pg)
    image = re.search(r"^image: (.+\.png) \(512×512\)$", made.out, re.MULTILINE)
    assert image and Path(image.group(1)).is_file(), str(made)
    cost = re.search(r"\bcost (\d+) points .* balance (\d+)$", made.out, re.MULTILINE)
    assert cost and int(cost.group(2)) == 1000 - int(cost.group(1)), str(made)
    assert not (station.data_dir / "stationthis.db").exists()  # no SQLite on the side


@pytest.mark.postgres
def test_make_on_an_unmigrated_postgres_says_run_db_upgrade(
    station: Station, empty_pg_url: str
) -> None:
    result = station("make", "x", STATIONTHIS_DATABASE_URL=empty_pg_url)
    assert result.code != 0, "PostgreSQL is not migrated automatically"
    assert "Traceback" not in result.err, str(result)
    assert len(result.err_lines) == 1, str(result)
    assert "stationthis db upgrade" in result.err_lines[0]
