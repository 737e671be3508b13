"""A job's outputs are recorded in the transaction that finishes it: their files are stored
first, then ONE commit writes the media rows, the final state, the charge and the outbox.
A job that does not succeed there keeps no media rows and no files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select

from stationthis.core.engine import Artifact, RunHandle
from stationthis.core.schema import media
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import ScriptedEngine
from tests.unit.test_engine_outputs_stored import engine_png


class HandsBack(ScriptedEngine):
    """The scripted engine returning the artifacts a test gives it, after an optional step
    (run while the job waits for its result)."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: list[Artifact] = []
        self.before_result: Callable[[str], Awaitable[object]] | None = None

    async def result(self, handle: RunHandle) -> list[Artifact]:
        await super().result(handle)
        if self.before_result is not None:
            await self.before_result(handle.job_id)
        return list(self.outputs)


@pytest.fixture
def engine() -> HandsBack:
    return HandsBack()


async def alice(app: App) -> Account:
    return await app.users.resolve(Identity("test", "alice"))


async def rows_of(app: App, job_id: str) -> list[str]:
    async with app.db.read() as conn:
        return list((await conn.execute(
            select(media.c.id).where(media.c.job_id == job_id))).scalars())


async def stored_files(app: App, account: Account) -> list[str]:
    return [o.key async for batch in app.media.store.listing() for o in batch
            if o.key.startswith(f"{account.id}/")]


async def test_a_job_succeeds_with_its_outputs_recorded(app: App, engine: HandsBack) -> None:
    engine.outputs = [Artifact(engine_png(), "image/png", "a.png"),
                      Artifact(engine_png((32, 32)), "image/png", "b.png")]
    account = await alice(app)
    job = await app.make_image.make(account, Request("make", {"prompt": "a fox"}))
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "succeeded" and len(done.outputs) == 2
    assert sorted(await rows_of(app, job.id)) == sorted(done.outputs)
    assert len(await stored_files(app, account)) == 2
    for media_id in done.outputs:
        item = await app.media.get(media_id, account.id)
        assert item.job_id == job.id and item.kind == "output"


async def test_a_cancel_while_the_result_is_fetched_keeps_no_image_and_charges_nothing(
    app: App, engine: HandsBack
) -> None:
    engine.outputs = [Artifact(engine_png(), "image/png", "out.png")]
    engine.before_result = app.jobs.cancel  # the user cancels as the engine finishes
    account = await alice(app)
    before = (await app.ledger.balance(account.id)).total
    job = await app.make_image.make(account, Request("make", {"prompt": "a fox"}))
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "cancelled" and not done.outputs
    assert await rows_of(app, job.id) == []  # nothing in the user's images
    assert await stored_files(app, account) == []
    assert (await app.ledger.balance(account.id)).total == before


async def test_a_refused_second_output_leaves_neither_row_nor_file_of_the_first(
    app: App, engine: HandsBack
) -> None:
    engine.outputs = [Artifact(engine_png(), "image/png", "good.png"),
                      Artifact(b"GIF89a" + engine_png()[6:], "image/png", "bad.png")]
    account = await alice(app)
    before = (await app.ledger.balance(account.id)).total
    job = await app.make_image.make(account, Request("make", {"prompt": "a fox"}))
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "failed" and "'bad.png' was refused" in (done.error or "")
    assert await rows_of(app, job.id) == []
    assert await stored_files(app, account) == []
    assert (await app.ledger.balance(account.id)).total == before
