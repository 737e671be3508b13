"""End to end: the commands that take ``KEY=VALUE`` (``make --set``, ``train quote|start
--set``, ``tweak``) refuse a malformed one alike: one line naming the option and the argument,
exit code 2, and nothing run or created (not even the data directory)."""

from __future__ import annotations

from tests.e2e.test_cli import Station, finish, station  # noqa: F401  (the fixture)


def test_a_malformed_key_value_is_refused_alike_everywhere(station: Station) -> None:  # noqa: F811
    cases = {
        ("make", "a fox", "--set", "steps"): "error: --set takes KEY=VALUE, got 'steps'",
        ("make", "a fox", "--set", "=5"): "error: --set takes KEY=VALUE, got '=5'",
        ("train", "quote", "ds1", "--set", "lora_dtype"):
            "error: --set takes KEY=VALUE, got 'lora_dtype'",
        ("train", "start", "ds1", "--set", " =fp32"):
            "error: --set takes KEY=VALUE, got ' =fp32'",
        ("tweak", "job1", "steps=30", "cfg"): "error: tweak takes KEY=VALUE, got 'cfg'",
    }
    started = [station.start(*args) for args in cases]
    for process, message in zip(started, cases.values(), strict=True):
        result = finish(process)
        assert result.code == 2, str(result)
        assert result.err_lines == [message], str(result)
        assert result.out == "", str(result)
    assert not station.data_dir.exists()  # refused before any database was opened
