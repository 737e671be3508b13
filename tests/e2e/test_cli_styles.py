"""End to end: ``stationthis styles …`` and ``stationthis wildcards …`` (the real console
script; see tests/e2e/test_cli.py for the harness): save, list, show, use in ``make`` (a dry
run shows the styled prompt with its wildcards drawn), remove; an unknown style or list is
one line naming the ones there are."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli import NO_REFILL, Station


def test_styles_and_wildcards_from_the_command_line(tmp_path: Path) -> None:
    station = Station(tmp_path, **NO_REFILL)
    saved = station.ok("styles", "add", "noir", "film noir photo of {prompt}", "--negative",
                       "colour", "--set", "steps=12", "--set", "ar=16:9")
    assert saved.out.splitlines() == ["noir: film noir photo of {prompt}",
                                      "  negative: colour", "  steps = 12", "  ar = 16:9"]
    station.ok("styles", "add", "pastel", "soft pastel", "--group", "telegram:-100")
    assert station.ok("styles", "list").out.split() == ["noir", "film", "noir", "photo", "of",
                                                         "{prompt}"]
    assert "pastel" in station.ok("styles", "list", "--group", "telegram:-100").out
    assert station.ok("styles", "show", "noir").out.startswith("noir: film noir photo")
    listed = station.ok("wildcards", "add", "colours", "teal", "red:3")
    assert listed.out.strip() == "__colours__: teal, red:3"
    assert station.ok("wildcards", "list").out.strip() == "__colours__: teal, red:3"

    dry = station.ok("make", "a __colours__ fox --style noir", "--seed", "5", "--dry-run")
    assert "680×384 · 12 steps" in dry.out, dry
    assert ("prompt 'film noir photo of a red fox'" in dry.out
            or "prompt 'film noir photo of a teal fox'" in dry.out), dry
    again = station.ok("make", "a __colours__ fox --style noir", "--seed", "5", "--dry-run")
    assert again.out == dry.out  # the same seed draws the same

    unknown = station("make", "a fox --style noor", "--dry-run")
    assert unknown.code == 1
    assert unknown.err_lines == ["error: there is no style 'noor' (your styles: noir)"]
    missing = station("make", "a __colors__ fox", "--dry-run")
    assert missing.err_lines == ["error: there is no wildcard list __colors__ (your lists: "
                                 "__colours__)"]

    station.ok("styles", "rm", "noir")
    station.ok("wildcards", "rm", "colours")
    assert "no styles yet" in station.ok("styles", "list").out
    gone = station("styles", "rm", "noir")
    assert gone.err_lines == ["error: no style named 'noir'"]
