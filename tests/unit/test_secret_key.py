"""No default secret protects anything: without STATIONTHIS_SECRET_KEY each install makes its
own random secret (kept, owner-only, in the data directory); a weak key is refused; with
PostgreSQL the key must be set (docs/decisions/0020)."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from stationthis.config import Settings, SettingsError, load_settings
from stationthis.install_secret import load_or_create
from stationthis.platforms.telegram.app import webhook_secret

OLD_DEFAULT = "dev-insecure-change-me"
STRONG = "k3Y-for-tests-only_0123456789abcdefghij"  # 38 characters


def install(data_dir: Path, **values: Any) -> Settings:
    """A fresh start of an install whose data lives in ``data_dir``."""
    return Settings(data_dir=data_dir, _env_file=None, **values)


def old_default_key(purpose: str) -> bytes:
    return hmac.new(OLD_DEFAULT.encode(), purpose.encode(), hashlib.sha256).digest()


@pytest.fixture(autouse=True)
def no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATIONTHIS_SECRET_KEY", raising=False)


def test_two_installs_without_a_key_have_different_secrets(tmp_path: Path) -> None:
    first, second = install(tmp_path / "one"), install(tmp_path / "two")
    assert webhook_secret(first) != webhook_secret(second)
    for settings in (first, second):
        for purpose in ("telegram-webhook", "comfydeploy-webhook", "csrf"):
            assert settings.derived_secret(purpose) != old_default_key(purpose)


def test_the_secret_is_kept_owner_only_and_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = install(data)
    assert first.resolve_secret() == f"generated a new per-install secret in {data}/secret_key"
    secret = webhook_secret(first)
    path = data / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32

    restarted = install(data)
    assert restarted.resolve_secret() == f"using the per-install secret in {data}/secret_key"
    assert webhook_secret(restarted) == secret
    assert path.read_text().strip() not in restarted.resolve_secret()


def test_an_explicit_key_is_used_and_said_so(tmp_path: Path) -> None:
    settings = install(tmp_path / "data", secret_key=STRONG)
    assert settings.resolve_secret() == "using STATIONTHIS_SECRET_KEY"
    assert settings.derived_secret("csrf") == hmac.new(
        STRONG.encode(), b"csrf", hashlib.sha256).digest()
    assert not (tmp_path / "data" / "secret_key").exists()


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start = threading.Barrier(8)
    results: list[tuple[str, bool]] = []

    def boot() -> None:
        start.wait()
        results.append(load_or_create(data))

    threads = [threading.Thread(target=boot) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({secret for secret, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert [p.name for p in data.iterdir()] == ["secret_key"]  # no temporary files left


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    data = tmp_path / "data"
    install(data).resolve_secret()
    os.chmod(data / "secret_key", mode)
    with pytest.raises(SettingsError) as refused:
        install(data).resolve_secret()
    assert f"chmod 600 {data}/secret_key" in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("content", ["", "\n", "short\n", OLD_DEFAULT + "\n"])
def test_an_empty_or_weak_file_is_refused(tmp_path: Path, content: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "secret_key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(SettingsError) as refused:
        install(data).derived_secret("csrf")
    assert "delete" in str(refused.value) and str(path) in str(refused.value)


@pytest.mark.parametrize("weak", [OLD_DEFAULT, "too-short-a-secret", "a" * 40, ""])
def test_a_weak_key_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("STATIONTHIS_SECRET_KEY", weak)
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None)
    message = str(refused.value)
    assert message.startswith("invalid setting STATIONTHIS_SECRET_KEY: ")
    assert "secrets.token_urlsafe" in message and "\n" not in message
    if weak:
        assert weak not in message


def test_postgres_without_a_key_is_refused(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://station@db.example/station"
    settings = install(tmp_path / "data", database_url=url)
    with pytest.raises(SettingsError) as refused:
        settings.derived_secret("csrf")
    assert str(refused.value).startswith("STATIONTHIS_SECRET_KEY is not set: with PostgreSQL")
    assert not (tmp_path / "data" / "secret_key").exists()  # no per-machine file
    with_key = install(tmp_path / "data", database_url=url, secret_key=STRONG)
    assert with_key.resolve_secret() == "using STATIONTHIS_SECRET_KEY"
