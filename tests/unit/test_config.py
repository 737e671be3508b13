"""Settings: defaults for the embedded setup, and one clear line for a bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from stationthis.config import SettingsError, load_settings


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(_env_file=None)
    assert settings.is_sqlite
    assert settings.db_url.endswith(str((tmp_path / "data" / "stationthis.db").resolve()))
    assert settings.media_dir == Path("data/media")
    assert (settings.host, settings.port, settings.engine_name) == ("127.0.0.1", 8000, "preview")
    assert (settings.allowance.steps, settings.allowance.interval_seconds) == (18, 900)


def test_environment_and_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATIONTHIS_MAX_QUEUED_PER_USER", "5")
    monkeypatch.setenv("STATIONTHIS_COSTS__BASE", "20")
    settings = load_settings(_env_file=None)
    assert settings.max_queued_per_user == 5
    assert settings.costs.base == 20


@pytest.mark.parametrize(
    ("name", "value"),
    [("STATIONTHIS_PORT", "99999"), ("STATIONTHIS_ALLOWANCE__STEPS", "0"),
     ("STATIONTHIS_LOG_LEVEL", "LOUD")],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    message = str(err.value)
    assert name in message and "\n" not in message
