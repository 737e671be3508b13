"""The server_loras table on SQLite and PostgreSQL: set, change, clear, unique display names
(case-insensitive), triggers as a list, the price factor in percent, forget."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import InvalidInput
from stationthis.core.server_loras import ServerLoraCatalog
from stationthis.workflows.app import App
from tests.support.scripted import Script, ScriptedEngine


@pytest.fixture
async def app(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[App]:
    app = build(make_settings(database_url=db_url), engine=ScriptedEngine(Script(delay=0.01)))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def test_what_operators_set_is_kept_per_file(app: App) -> None:
    catalog = ServerLoraCatalog(app.db)
    first = await catalog.set("styles/Ink v2.safetensors", triggers=["inky", "inky", " ink "],
                              price_factor=1.25)
    assert first.name == "Ink v2"  # no display name: the file's name without its folder
    assert first.triggers == ("inky", "ink") and first.price_factor == 1.25
    named = await catalog.set("styles/Ink v2.safetensors", name="Ink", by=None)
    assert named.name == "Ink" and named.triggers == ("inky", "ink")  # the rest unchanged
    with pytest.raises(InvalidInput, match="already the LoRA"):
        await catalog.set("neon.safetensors", name="INK")
    await catalog.set("neon.safetensors", name="Neon", hidden=True, preview="https://x.test/n.png")
    entries = await catalog.entries()
    assert set(entries) == {"styles/Ink v2.safetensors", "neon.safetensors"}
    assert entries["neon.safetensors"].hidden and entries["neon.safetensors"].preview
    cleared = await catalog.set("neon.safetensors", name="", preview="", hidden=False)
    assert cleared.name == "neon" and cleared.preview is None and not cleared.hidden
    assert await catalog.forget("neon.safetensors")
    assert not await catalog.forget("neon.safetensors")
    assert set(await catalog.entries()) == {"styles/Ink v2.safetensors"}
