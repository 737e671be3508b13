"""Text stored before the platforms refused lone surrogates (a JSON column keeps one as a
``"\\ud800"`` escape, on SQLite and PostgreSQL alike) reads back as U+FFFD: old data can
never make a page that shows it fail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.support.scripted import ScriptedEngine


@pytest.fixture
async def app(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[App]:
    app = build(make_settings(database_url=db_url), engine=ScriptedEngine())
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def test_a_stored_lone_surrogate_reads_back_as_a_replacement_character(app: App) -> None:
    alice = await app.users.resolve(Identity("web", "alice"))
    await app.user_settings.set(alice, "negative", "blurry \ud800 \U0001f98a")
    view = await app.user_settings.show(alice)
    assert view["negative"].value == "blurry \ufffd \U0001f98a"
    view["negative"].value.encode("utf-8")  # what every page and API answer does
