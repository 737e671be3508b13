"""End to end: ``stationthis settings …`` and ``stationthis users …`` as an operator runs them,
and ``make`` with settings, a group, a ban and the prompt filter (the real console script in
a subprocess; see tests/e2e/test_cli.py for the harness)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.test_cli import NO_REFILL, Result, Station, finish


def row(result: Result, key: str) -> list[str]:
    """The columns of one setting's row in ``settings show`` output."""
    for line in result.out.splitlines():
        cols = line.split()
        if cols and cols[0] == key:
            return cols
    raise AssertionError(f"no row {key!r}\n{result}")


def one_error(result: Result, code: int = 1) -> str:
    assert result.code == code, str(result)
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith("error: "), str(result)
    return result.err_lines[0]


def test_settings_show_set_reset_and_group_defaults(tmp_path: Path) -> None:
    station = Station(tmp_path, **NO_REFILL)
    station.ok("users", "add", "alice")
    shown = station.ok("settings", "show", "alice")
    assert shown.out.startswith("alice: free tier · default tool make")
    assert row(shown, "steps") == ["steps", "20", "default", "1–48", "(free", "tier)"]
    assert row(shown, "seed")[1:3] == ["random", "default"]

    station.ok("settings", "set", "alice", "steps", "30")
    sized = station.ok("settings", "set", "alice", "size", "1024x768")
    assert row(sized, "width")[1:3] == ["1024", "user"] and row(sized, "height")[1] == "768"
    assert row(sized, "steps")[1:3] == ["30", "user"]

    refusals = [station.start("settings", "set", "alice", *args) for args in
                (("steps", "60"), ("sampler", "euler"), ("tool", "upscale"))]
    too_many, unknown, bad_tool = (one_error(finish(p)) for p in refusals)
    assert too_many == "error: steps must be between 1 and 48 on the free tier (got 60)"
    assert "unknown setting 'sampler'" in unknown and "checkpoint, tool" in unknown
    assert "text-to-image tool: make" in bad_tool

    group = station.ok("settings", "group-set", "telegram:-100", "cfg", "5")
    assert row(group, "cfg")[1:3] == ["5.0", "group"]
    station.ok("settings", "group-set", "telegram:-100", "steps", "40")
    in_group = station.ok("settings", "show", "alice", "--group", "telegram:-100")
    assert row(in_group, "cfg")[1:3] == ["5.0", "group"]
    assert row(in_group, "steps")[1:3] == ["30", "user"]  # the user's own setting wins
    assert row(station.ok("settings", "show", "alice"), "cfg")[2] == "default"
    not_a_group = one_error(station("settings", "group-set", "alice", "cfg", "5"))
    assert "is not a group" in not_a_group

    reset = station.ok("settings", "reset", "alice", "steps")
    assert row(reset, "steps")[1:3] == ["20", "default"] and row(reset, "width")[2] == "user"
    reset = station.ok("settings", "reset", "alice")
    assert row(reset, "width")[1:3] == ["512", "default"]
    group = station.ok("settings", "group-reset", "telegram:-100", "cfg")
    assert row(group, "cfg")[2] == "default" and row(group, "steps")[1:3] == ["40", "group"]


def test_users_tier_ban_and_make_with_settings_in_a_group(tmp_path: Path) -> None:
    station = Station(tmp_path, **NO_REFILL)
    station.ok("users", "add", "alice")
    station.ok("users", "add", "bob")
    assert one_error(station("users", "tier", "alice", "gold")) == (
        "error: unknown tier 'gold'; tiers: free, pro"
    )
    assert station.ok("users", "tier", "alice", "pro").out.strip() == "alice is on the pro tier"
    assert row(station.ok("settings", "set", "alice", "steps", "100"), "steps")[1] == "100"
    station.ok("settings", "group-set", "telegram:-7", "size", "640 512")

    assert "alice is banned" in station.ok("users", "ban", "alice").out
    shown = station.ok("users", "show", "alice")
    assert "pro tier · BANNED" in shown.out and "identities: web:alice" in shown.out
    refused = station("make", "a fox", "--user", "alice")
    assert one_error(refused) == "error: This account is blocked from generating images."
    assert station.balance("alice") == (1000, 1000, 0)

    station.ok("users", "unban", "alice")
    made = station.ok("make", "a fox", "--user", "alice", "--group", "telegram:-7",
                      "--out", str(tmp_path / "out"))
    assert "(640×512)" in made.out  # the group's size; the user's 100 steps
    assert re.search(r"^make: 60 points", made.out, re.M), str(made)  # 10 + 2·5 + ⌈80·0.5⌉
    over = station("make", "a fox", "--user", "bob", "--steps", "100")
    assert one_error(over) == "error: steps must be between 1 and 48 on the free tier (got 100)"
    assert station.balance("bob") == (1000, 1000, 0)
    assert "not banned" in station.ok("users", "show", "alice").out


def test_the_prompt_filter_and_a_bad_pattern(tmp_path: Path) -> None:
    station = Station(tmp_path, **NO_REFILL, STATIONTHIS_BLOCKED_WORDS="gore,blood bath")
    station.ok("users", "add", "alice")
    blocked = station.start("make", "a G.O.R.E scene", "--user", "alice")
    bad = station.start("settings", "show", "alice", STATIONTHIS_BLOCKED_PATTERNS="nud(e")
    message = one_error(finish(blocked))
    assert message.startswith("error: this prompt is not allowed here (")
    assert "gore" not in message.lower()
    assert station.balance("alice") == (1000, 1000, 0)
    line = one_error(finish(bad), code=2)
    assert "STATIONTHIS_BLOCKED_PATTERNS" in line and "not a valid regular expression" in line
