"""Job events carry the job's category and origin, so subscribers skip the jobs that are not
theirs without reading the database: an image job's end costs the training subscriber and
the cook runner no statement; a training job's end is still registered as a model; a cook
run waiting for a slot the owner's other jobs fill still continues when one of them ends
(a training job's end becoming a model: tests/unit/test_training.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event as sa_event

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.events import Event, JobSucceeded
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine


@contextmanager
def statements(app: App) -> Iterator[list[str]]:
    """Every SQL statement the app's database runs meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = app.db.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("web", name))


async def finished(app: App, job_id: str) -> JobSucceeded:
    """The ``JobSucceeded`` the job published, as subscribers got it."""
    got: asyncio.Future[JobSucceeded] = asyncio.get_running_loop().create_future()

    async def record(event: Event) -> None:
        if isinstance(event, JobSucceeded) and event.job_id == job_id and not got.done():
            got.set_result(event)

    unsubscribe = app.bus.subscribe(record, JobSucceeded)
    try:
        async with asyncio.timeout(30):
            return await got
    finally:
        unsubscribe()


async def test_an_image_jobs_end_costs_the_training_and_cook_subscribers_no_read(
    app: App, engine: ScriptedEngine,
) -> None:
    alice = await user(app)
    engine.script(Script(delay=0.05))
    job = await app.make_image.make(alice, Request("make", {"prompt": "a fox", "seed": 3}))
    done = await finished(app, job.id)
    assert done.category == job.category and done.category != "train"
    assert done.origin is None

    with statements(app) as seen:
        await app.training.on_job_succeeded(done)
        await app.cook.runner.on_job_finished(done)
    assert seen == []

    # an event from before the markers (no category) is still looked up: nothing is missed
    old = JobSucceeded(job_id=done.job_id, owner_id=done.owner_id, outputs=done.outputs,
                       cost=done.cost)
    with statements(app) as seen:
        await app.training.on_job_succeeded(old)
        await app.cook.runner.on_job_finished(old)
    assert seen


async def test_a_cook_run_waiting_for_a_slot_continues_when_another_job_ends(
    make_settings: Callable[..., Settings],
) -> None:
    engine = ScriptedEngine(Script(delay=0.01))
    app = build(make_settings(max_queued_per_user=2), engine=engine)
    await app.start()
    try:
        alice = await user(app)
        engine.script(Script(hang=True), Script(hang=True))
        busy = [await app.make_image.make(alice, Request("make", {"prompt": f"a cup {n}"}))
                for n in range(2)]
        c = await app.collections.create(alice, "Jars")
        await app.cook.configure(alice, c.id, {
            "master_prompt": "a [thing]", "supply": 3, "seed": 1,
            "trait_types": [{"name": "thing", "traits": ["jar", "cup"]}]})
        started = await app.cook.start(alice, c.id)
        assert (started.in_flight, started.pending) == (0, 3)  # the two jobs fill the slots

        for job in busy:
            await app.jobs.cancel(job.id, alice.id)
        async with asyncio.timeout(30):  # no drive, no advancing read: the job events do it
            while (status := await app.cook.status(alice, c.id)).state != "finished":
                await asyncio.sleep(0.02)
        assert (status.done, status.failed) == (3, 0)
    finally:
        await app.stop()
