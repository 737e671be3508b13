"""End to end: the command line in a newcomer's first hour — the README's command lines run
exactly as written; a mistyped user is an error with the close names, never a new user;
`users add` and `users password` (the web sign-in of a user made here); `make --dry-run`;
parameters written in the prompt; `serve` on a port that is taken."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import Conflict
from stationthis.migrations import upgrade
from tests.e2e.test_cli import (
    NO_REFILL,
    STATIONTHIS,
    TIMEOUT_S,
    Result,
    Station,
    clean_env,
    finish,
)

README = Path(__file__).resolve().parents[2] / "README.md"
# What the quick start promises (the lead may add lines; these must stay and run).
PROMISED = [
    ".venv/bin/stationthis users add local",
    '.venv/bin/stationthis make "a red fox" --seed 7 --out out/ -u local',
    '.venv/bin/stationthis make "a red fox" --dry-run -u local',
    ".venv/bin/stationthis points balance -u local",
    ".venv/bin/stationthis points grant alice 500",
]
NEEDS_MORE = ("discord",)  # README lines that need a service set up first
PASSWORD = "correct horse battery"


@pytest.fixture(name="station")
def fresh_station(tmp_path: Path) -> Station:
    return Station(tmp_path, **NO_REFILL)


def readme_commands() -> list[str]:
    """Every `.venv/bin/stationthis …` of the README, in order, without trailing comments."""
    found = re.findall(r"\.venv/bin/stationthis[^`#\n]*", README.read_text(encoding="utf-8"))
    return [line.strip() for line in found]


def shell(station: Station, line: str, stdin: str = "") -> Result:
    """``line`` run by bash in the station's working directory, where ``.venv/bin/
    stationthis`` is the installed command — as a user runs it from the repository."""
    venv = station.workdir / ".venv" / "bin"
    venv.mkdir(parents=True, exist_ok=True)
    if not (venv / "stationthis").exists():
        (venv / "stationthis").symlink_to(STATIONTHIS)
    done = subprocess.run(["bash", "-c", line], cwd=station.workdir, input=stdin, text=True,
                          env=clean_env(**station.settings), capture_output=True,
                          timeout=TIMEOUT_S)
    return Result(done.returncode, done.stdout, done.stderr)


def settings_of(station: Station) -> Settings:
    return Settings(data_dir=station.data_dir, _env_file=None,  # type: ignore[call-arg]
                    allowance={"interval_seconds": 4_000_000_000})


def sign_up(station: Station, name: str) -> str:
    """``name`` signs up on the web (the workflow the sign-up page uses); the account id."""
    settings = settings_of(station)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)

    async def body() -> str:
        app = build(settings)
        try:
            return (await app.auth.sign_up(name, PASSWORD)).id
        finally:
            await app.stop()

    return asyncio.run(body())


def one_error(result: Result, code: int) -> str:
    assert result.code == code, str(result)
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith("error: "), str(result)
    return result.err_lines[0]


# ----- the README ---------------------------------------------------------------------------


def test_the_readme_command_lines_run_as_written(tmp_path: Path) -> None:
    commands = readme_commands()
    for line in PROMISED:
        assert line in commands, f"the README no longer says {line!r}"
    station = Station(tmp_path, **NO_REFILL)
    sign_up(station, "alice")  # step 2: alice signed up on the web
    results = {line: shell(station, line) for line in commands
               if not any(word in line for word in NEEDS_MORE)}
    for line, result in results.items():
        assert result.code == 0, f"{line}\n{result}"
    assert results[PROMISED[4]].out.strip() == "granted · balance 1500"
    assert results[PROMISED[0]].out.startswith("created local (web:local) · balance 1000")
    made = results[PROMISED[1]].out
    image = re.search(r"^image: (out/\S+\.png) \(512×512\)$", made, re.MULTILINE)
    assert image and (station.workdir / image.group(1)).is_file(), made
    cost = int(re.search(r"cost (\d+) points", made).group(1))  # type: ignore[union-attr]
    dry = results[PROMISED[2]].out
    assert dry.startswith(f"make: {cost} points (you have {1000 - cost})"), dry
    assert dry.rstrip().endswith("dry run: nothing was held or run"), dry
    assert results[PROMISED[3]].out.startswith(f"local: {1000 - cost} points")  # dry: free


# ----- users: never made by accident --------------------------------------------------------


def test_an_unknown_user_is_an_error_with_the_close_names_and_nothing_is_made(
    station: Station,
) -> None:
    station.ok("users", "add", "alice")
    grant, make, show, far = (
        station.start("points", "grant", "alcie", "500"),
        station.start("make", "a fox", "-u", "Alice"),
        station.start("users", "show", "alcie"),
        station.start("points", "balance", "zed"),
    )
    assert one_error(finish(grant), 2) == (
        "error: no user 'alcie' (did you mean alice?); create one with: "
        "stationthis users add alcie")
    assert one_error(finish(make), 2).startswith("error: no user 'Alice' (did you mean alice?)")
    assert one_error(finish(show), 2).startswith("error: no user 'alcie'")  # still none
    assert one_error(finish(far), 2) == (
        "error: no user 'zed'; create one with: stationthis users add zed")
    assert station.balance("alice") == (1000, 1000, 0)
    assert "identities: web:alice" in station.ok("users", "show", "alice").out


def test_a_user_added_here_signs_in_on_the_web_once_the_operator_sets_a_password(
    station: Station,
) -> None:
    added = station.ok("users", "add", "bob")
    assert added.out.splitlines() == [
        "created bob (web:bob) · balance 1000 points",
        "bob can sign in on the web after: stationthis users password bob",
    ]
    assert station.ok("users", "add", "bob").out.strip() == "bob already exists (web:bob)"
    assert station.ok("users", "add", "telegram:42").out.startswith("created telegram:42 ")
    assert "sign in" not in station.ok("users", "add", "telegram:43").out

    async def web(name: str, password: str, *, signup: bool) -> str:
        app = build(settings_of(station))
        try:
            if signup:
                return (await app.auth.sign_up(name, password)).id
            return (await app.auth.sign_in(name, password)).id
        finally:
            await app.stop()

    with pytest.raises(Conflict) as taken:  # nobody can claim bob by signing up first
        asyncio.run(web("bob", PASSWORD, signup=True))
    assert taken.value.message == ("that username is taken; if it is yours, ask the operator "
                                   "to run `stationthis users password bob`")
    no_tty = station("users", "password", "bob")
    assert "--password-stdin" in one_error(no_tty, 2)
    short = shell(station, ".venv/bin/stationthis users password bob --password-stdin",
                  stdin="short\n")
    assert one_error(short, 1) == "error: a password is 8–200 characters"
    done = shell(station, ".venv/bin/stationthis users password bob --password-stdin",
                 stdin=PASSWORD + "\n")
    assert done.code == 0 and done.out.strip() == "bob can sign in on the web now", str(done)
    account = asyncio.run(web("bob", PASSWORD, signup=False))
    shown = station.ok("users", "show", "bob").out
    assert account in asyncio.run(_account_ids(station, "bob")), shown
    refused = [station("users", "add", "Bob"), station("users", "password", "nobody")]
    assert "a web name is 3–32 lower-case letters" in one_error(refused[0], 2)
    assert one_error(refused[1], 2).startswith("error: no user 'nobody'")


async def _account_ids(station: Station, name: str) -> set[str]:
    from stationthis.core.users import Identity

    app = build(settings_of(station))
    try:
        found = await app.users.find(Identity("web", name))
        return {found.id} if found else set()
    finally:
        await app.stop()


# ----- make --dry-run and parameters in the prompt -----------------------------------------


def test_make_dry_run_prices_the_request_and_runs_nothing(station: Station) -> None:
    dry = station.ok("make", "a red fox --ar 16:9 --seed 5 --no text", "--dry-run")
    assert dry.out.splitlines() == [
        "make: 15 points (you have 1000)",
        "  680×384 · 20 steps · 1 image · seed 5 · prompt 'a red fox' · no 'text'",
        "dry run: nothing was held or run",
    ]
    poor = Station(station.root / "poor", STATIONTHIS_ALLOWANCE__AMOUNT="20", **NO_REFILL)
    short = poor.ok("make", "a fox", "--width", "2048", "--height", "2048", "--dry-run")
    assert short.out.startswith("make: 90 points (you have 20)\n"), short.out
    assert "  short by 70 points\n  fits: 512×512 pixels — 15 points\n" in short.out
    assert "no jobs yet" in station.ok("history", "local").out
    assert station.balance("local") == (1000, 1000, 0)


def test_parameters_in_the_prompt_make_the_image_they_say(station: Station) -> None:
    made = station.ok("make", "a red fox --ar 16:9 --seed 5 --no text", "--out", "out")
    image = re.search(r"^image: (\S+\.png) \(680×384\)$", made.out, re.MULTILINE)
    assert image and "seed 5 " in made.out, str(made)
    with Image.open(station.workdir / image.group(1)) as im:
        assert im.size == (680, 384)
        assert im.text["stationthis:prompt"] == "a red fox"  # type: ignore[attr-defined]
    over = station("make", "a fox --steps 60")
    assert one_error(over, 1) == (
        "error: steps must be between 1 and 48 on the free tier (got 60)")
    unknown = station("make", "a fox --v 6")
    assert one_error(unknown, 1).startswith("error: unknown parameter --v in the prompt")


# ----- serve on a port that is taken --------------------------------------------------------


def test_serve_on_a_port_in_use_says_so_and_what_to_try(station: Station) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = station("serve", "--host", "127.0.0.1", "--port", str(port))
    assert result.code == 1, str(result)
    line = one_error(result, 1)
    found = re.fullmatch(rf"error: port {port} is in use \(another StationThis\?\); "
                         r"try: scripts/serve --port (\d+)", line)
    assert found and int(found.group(1)) > port, line
    assert not station.data_dir.exists()  # stopped before the database
