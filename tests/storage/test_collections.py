"""Collections and cook runs on SQLite and PostgreSQL: the whole path through the real
database, and two processes advancing one run at once never submit a piece twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import Forbidden, NotFound
from stationthis.core.schema import collection_links, cook_pieces, jobs
from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.support.scripted import Script, ScriptedEngine, png

CONFIG = {
    "master_prompt": "a [animal] in [place]",
    "trait_types": [{"name": "animal", "traits": ["fox", "owl", "cat"]},
                    {"name": "place", "traits": ["forest", "city"]}],
    "supply": 12, "seed": 11,
}


@pytest.fixture
async def app(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[App]:
    app = build(make_settings(database_url=db_url), engine=ScriptedEngine(Script(delay=0.01)))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def test_collections_items_sharing_and_links(app: App) -> None:
    alice = await app.users.resolve(Identity("web", "alice"))
    bob = await app.users.resolve(Identity("telegram", "42"))
    c = await app.collections.create(alice, "Stored")
    items = [await app.collections.add_upload(alice, c.id, png(40 + i, 40)) for i in range(5)]
    await app.collections.move_item(alice, c.id, items[4].id, 2)
    page = await app.collections.items(alice, c.id, page=1, per_page=3)
    assert [i.id for i in page.items] == [items[0].id, items[4].id, items[1].id]
    assert (page.total, page.pages) == (5, 2)
    await app.collections.share(alice, c.id, "telegram:42", "view")
    assert [x.name for x in await app.collections.shared_with_me(bob)] == ["Stored"]
    with pytest.raises(Forbidden):
        await app.collections.remove_item(bob, c.id, items[0].id)
    link = await app.collections.create_link(alice, c.id, "24h")
    assert (await app.collections.open_link(link.token)).items.total == 5
    async with app.db.write() as conn:
        await conn.execute(update(collection_links).where(collection_links.c.token == link.token)
                           .values(expires_at=link.created_at - timedelta(minutes=1)))
    with pytest.raises(Forbidden, match="expired"):
        await app.collections.open_link(link.token)
    await app.collections.delete(alice, c.id)
    with pytest.raises(NotFound):
        await app.collections.view(bob, c.id)


async def test_two_processes_advancing_one_run_submit_each_piece_once(
    app: App, make_settings: Callable[..., Settings], db_url: str,
) -> None:
    other = build(make_settings(database_url=db_url), engine=app.engine)
    await other.start(resume=False)
    try:
        alice = await app.users.resolve(Identity("web", "alice"))
        c = await app.collections.create(alice, "Busy")
        await app.cook.configure(alice, c.id, CONFIG)
        status = await app.cook.start(alice, c.id)

        async def hammer(which: App) -> None:
            for _ in range(200):
                await which.cook.runner.advance(status.run_id)
                run = await which.cook.store.run(status.run_id)
                if run.state != "running":
                    return
                await asyncio.sleep(0.005)

        async with asyncio.timeout(60):
            await asyncio.gather(hammer(app), hammer(other), app.cook.drive(alice, c.id))
        final = await app.cook.status(alice, c.id)
        assert (final.state, final.progress) == ("finished", "12/12")
        async with app.db.read() as conn:
            made = (await conn.execute(select(jobs.c.id).where(jobs.c.origin == "cook"))).all()
            linked = (await conn.execute(select(cook_pieces.c.job_id))).scalars().all()
        assert len(made) == 12
        assert sorted(str(j) for j in linked) == sorted(r.id for r in made)
        assert await app.ledger.verify(alice.id)
    finally:
        await other.stop()
