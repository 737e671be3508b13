"""End to end: one way to name the user. Every command that acts for or on a user takes
``-u/--user NAME``; the commands that took the user as their first argument (history, seed,
card, status, cancel, upload, points, settings, users) still do — the older form — with the
same result; a mistyped user is the same clear error either way; ``--help`` shows -u/--user
and no longer the older form's argument in the usage line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.test_cli import NO_REFILL, Result, Station, finish


def many(station: Station, commands: list[list[str]], at_once: int = 4) -> list[Result]:
    """Commands a few at a time side by side (each spends ~1 s importing)."""
    results: list[Result] = []
    for first in range(0, len(commands), at_once):
        started = [station.start(*args) for args in commands[first:first + at_once]]
        results += [finish(process) for process in started]
    return results


def ok(result: Result) -> Result:
    assert result.code == 0, str(result)
    return result


@dataclass(frozen=True)
class Alice:
    station: Station
    job: str
    media: str
    picture: Path


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory) -> Alice:
    """A user with one job and one image of her own."""
    root = tmp_path_factory.mktemp("user-option")
    station = Station(root, **NO_REFILL)
    station.ok("users", "add", "alice")
    station.ok("make", "a red fox", "--seed", "7", "-u", "alice")
    last = station.ok("history", "-u", "alice", "--last", "1").out
    job = re.search(r"^\S+ \S+  (\w+)  make@", last, re.MULTILINE)
    output = re.search(r"^    outputs: (\w+)$", last, re.MULTILINE)
    assert job and output, last
    picture = root / "upload.png"
    Image.new("RGB", (200, 100), (30, 160, 90)).save(picture)
    return Alice(station, job.group(1), output.group(1), picture)


def test_what_only_looks_is_the_same_with_u_as_with_the_older_form(alice: Alice) -> None:
    looks = [
        ["history", "{}", "--last", "5"],
        ["seed", "{}", alice.job],
        ["seed", "{}", alice.media],
        ["card", "{}", alice.media],
        ["card", "{}", alice.media, "--json"],
        ["status", "{}"],
        ["points", "balance", "{}"],
        ["points", "history", "{}"],
        ["settings", "show", "{}"],
        ["users", "show", "{}"],
    ]
    older = [[a for a in args] for args in looks]
    for args in older:
        args[args.index("{}")] = "alice"
    newer = [[a for a in args if a != "{}"] + ["-u", "alice"] for args in looks]
    results = many(alice.station, older + newer)
    for args, old, new in zip(looks, results[:len(looks)], results[len(looks):], strict=True):
        assert ok(old).out == ok(new).out, (args, str(old), str(new))
    history, seed = results[0], results[1]
    assert alice.job in history.out and seed.out.strip() == "7"
    assert "alice: " in results[6].out  # points balance


def test_what_changes_is_the_same_with_u_as_with_the_older_form(alice: Alice) -> None:
    station = alice.station
    show = ["settings", "show", "-u", "alice"]
    ok(station("settings", "set", "alice", "steps", "30"))
    by_older = ok(station(*show)).out
    ok(station("settings", "reset", "alice", "steps"))
    ok(station("settings", "set", "steps", "30", "-u", "alice"))
    assert ok(station(*show)).out == by_older and re.search(r"steps\s+30\s", by_older)
    ok(station("settings", "reset", "steps", "-u", "alice"))
    ok(station("settings", "set", "cfg", "5", "--user", "alice"))
    ok(station("settings", "reset", "alice"))  # one argument without -u: the user (older form)
    assert not re.search(r"steps\s+30\s|cfg\s+5\s", ok(station(*show)).out)

    before = station.balance("alice")[0]
    granted = [ok(station("points", "grant", "alice", "100", "--key", "older")),
               ok(station("points", "grant", "200", "-u", "alice", "--key", "newer"))]
    assert all(r.out.startswith("granted") for r in granted)
    assert station.balance("alice")[0] == before + 300

    ok(station("users", "tier", "-u", "alice", "pro"))
    assert "pro tier" in ok(station("users", "show", "alice")).out
    ok(station("users", "ban", "-u", "alice"))
    assert "BANNED" in ok(station("users", "show", "-u", "alice")).out
    ok(station("users", "unban", "alice"))
    assert "not banned" in ok(station("users", "show", "alice")).out

    old_up, new_up = many(station, [["upload", "alice", str(alice.picture)],
                                    ["upload", str(alice.picture), "-u", "alice"]])
    for put in (old_up, new_up):
        assert re.search(r"^media: \w+ \(200×100\)$", ok(put).out, re.MULTILINE), str(put)
    old_cancel, new_cancel = many(station, [["cancel", "alice", "all"],
                                            ["cancel", "all", "-u", "alice"]])
    assert ok(old_cancel).out == ok(new_cancel).out == "nothing to cancel\n"


def test_without_a_user_the_command_lines_own_user_is_meant(alice: Alice) -> None:
    named = ok(alice.station("points", "balance", "local"))  # makes local (on first use)
    plain = ok(alice.station("points", "balance"))
    assert plain.out == named.out and plain.out.startswith("local: ")
    assert ok(alice.station("history")).out == "no jobs yet\n"  # local's, not alice's


COMMANDS_WITH_A_USER = [  # each takes the user as its first argument in the older form
    ["history"], ["seed", "x"], ["card", "x"], ["status"], ["cancel", "all"],
    ["points", "balance"], ["points", "history"], ["points", "grant", "5"],
    ["settings", "show"], ["settings", "set", "steps", "30"], ["settings", "reset", "steps"],
    ["users", "show"], ["users", "ban"], ["users", "unban"], ["users", "tier", "pro"],
    ["users", "admin"],
]


def test_a_mistyped_user_is_the_same_clear_error_both_ways(alice: Alice) -> None:
    older = [[*args[:1 if args[0] not in ("points", "settings", "users") else 2], "alcie",
              *args[1 if args[0] not in ("points", "settings", "users") else 2:]]
             for args in COMMANDS_WITH_A_USER]
    newer = [[*args, "-u", "alcie"] for args in COMMANDS_WITH_A_USER]
    results = many(alice.station, older + newer)
    wanted = ("error: no user 'alcie' (did you mean alice?); "
              "create one with: stationthis users add alcie")
    for args, old, new in zip(COMMANDS_WITH_A_USER, results[:len(older)],
                              results[len(older):], strict=True):
        assert old.code == new.code == 2, (args, str(old), str(new))
        assert old.err_lines == new.err_lines == [wanted], (args, str(old), str(new))
        assert "Traceback" not in old.err + new.err
    assert "alcie" not in ok(alice.station("users", "show", "alice")).out


def test_the_user_given_twice_or_not_at_all_is_one_line(alice: Alice) -> None:
    twice, none, grant = many(alice.station, [
        ["card", "alice", alice.media, "-u", "alice"], ["users", "ban"],
        ["points", "grant", "5"]])
    assert twice.code == 2 and twice.err_lines == [
        "error: the user is given twice (-u alice and 'alice' first): give it once, "
        "as -u NAME"], str(twice)
    assert none.code == 2 and none.err_lines == [
        "error: which user? add -u NAME (or name it first: stationthis users ban USER)"]
    assert grant.code == 2 and "stationthis points grant USER AMOUNT" in grant.err, str(grant)


def test_help_shows_the_user_option_and_the_older_form(alice: Alice) -> None:
    commands = [*COMMANDS_WITH_A_USER, ["upload", "x"], ["users", "add"], ["users", "password"],
                ["purchases", "list"], ["make", "x"], ["collections", "list"], ["styles", "list"]]
    words = [[w for w in args if w not in ("x", "all", "5", "30", "steps", "pro")]
             for args in commands]
    for args, shown in zip(words, many(alice.station, [[*w, "--help"] for w in words]),
                           strict=True):
        assert re.search(r"--user\s+-u\b", ok(shown).out), (args, shown.out)
        usage = re.search(r"Usage: (.+)", shown.out)
        assert usage and "USER" not in usage.group(1), (args, shown.out)
        if args in ([["users", "add"], ["users", "password"]]):
            assert "[NAME]" in usage.group(1), shown.out  # NAME, or -u NAME
        elif args[0] not in ("purchases", "make", "collections", "styles"):
            assert "Older form: stationthis " in shown.out, (args, shown.out)
