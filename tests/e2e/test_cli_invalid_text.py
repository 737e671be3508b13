"""The real ``stationthis`` command given an argument that is not valid UTF-8 (Python decodes
such bytes into lone surrogates, which could be stored but never shown again): one clear
line, exit code 2, and nothing is made or stored."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.test_cli import NO_REFILL, STATIONTHIS, TIMEOUT_S, Result, Station, clean_env


def run_bytes(station: Station, *args: bytes) -> Result:
    done = subprocess.run(
        [bytes(STATIONTHIS), *args], cwd=station.workdir, env=clean_env(**station.settings),
        stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S,
    )
    return Result(done.returncode, done.stdout.decode("utf-8", "replace"),
                  done.stderr.decode("utf-8", "replace"))


def test_an_argument_that_is_not_utf8_is_refused_and_nothing_is_made(tmp_path: Path) -> None:
    station = Station(tmp_path, **NO_REFILL)
    bad = run_bytes(station, b"make", b"a fox \xff")
    in_option = run_bytes(station, b"make", b"a fox", b"--set", b"negative=caf\xe9")
    as_user = run_bytes(station, b"points", b"balance", b"al\xedce")
    for result in (bad, in_option, as_user):
        assert result.code == 2, str(result)
        assert result.err_lines[0].startswith("error: text must be valid Unicode"), str(result)
        assert "Traceback" not in result.err
    assert "argument 2 is b'a fox \\xff'" in bad.err
    assert "argument 4 is b'negative=caf\\xe9'" in in_option.err
    history = station.ok("history", "local")
    assert "no jobs yet" in history.out
    assert station.balance("local")[0] == 1000  # no hold, no charge
