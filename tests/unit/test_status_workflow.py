"""Status: a user's queued and running jobs with their place in the global queue and an ETA
from the tool's past run times; cancelling from the status releases the hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import Conflict, NotFound
from stationthis.core.jobs import Job
from stationthis.core.queue import WakingQueue
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine, png


class ManualQueue(WakingQueue):
    """A JobQueue that runs a job only when the test says so (the real in-memory queue starts
    every job at once, so nothing would stay queued)."""

    def __init__(self) -> None:
        self.waiting: list[str] = []
        self.run: Callable[[str], Awaitable[None]] | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def enqueue(self, job_id: str) -> None:
        self.waiting.append(job_id)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()

    def release(self, job_id: str) -> None:
        assert self.run is not None
        self.waiting.remove(job_id)
        self.tasks.append(asyncio.create_task(self.run(job_id)))


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(allowance={"interval_seconds": 4_000_000_000})


@pytest.fixture
async def held(
    settings: Settings, engine: ScriptedEngine
) -> AsyncIterator[tuple[App, ManualQueue]]:
    queue = ManualQueue()
    app = build(settings, engine=engine, queue=queue)
    queue.run = app.runner.run
    await app.start()
    try:
        yield app, queue
    finally:
        await app.stop()


async def user(app: App, name: str) -> Account:
    return await app.users.resolve(Identity("test", name))


async def make(app: App, account: Account, tool: str = "make", **options: Any) -> Job:
    return await app.make_image.make(account, Request(tool, {"prompt": "a fox", **options}))


async def test_positions_and_eta_after_a_few_finished_jobs(
    held: tuple[App, ManualQueue],
) -> None:
    app, queue = held
    alice, bob = await user(app, "alice"), await user(app, "bob")
    assert await app.status.active(alice) == []
    finished = [await make(app, bob) for _ in range(3)]
    for job in finished:
        queue.release(job.id)
    finished = [await app.jobs.wait(job.id, timeout=10) for job in finished]
    runs = [(j.finished_at - j.started_at).total_seconds() for j in finished]  # type: ignore[operator]
    average = sum(runs) / len(runs)
    assert await app.jobs.average_run_seconds("make") == pytest.approx(average)
    assert await app.jobs.average_run_seconds("rmbg") is None

    a1 = await make(app, alice)
    b1 = await make(app, bob)
    a2 = await make(app, alice)
    a3 = await make(app, alice, width=1024)
    await app.jobs.mark_running(a1.id, "run-1")  # as the runner does when a job starts
    await app.jobs.report_progress(await app.jobs.get(a1.id), {"percent": 40})
    view = await app.status.active(alice)
    assert [v.job_id for v in view] == [a1.id, a2.id, a3.id]
    running, second, third = view
    assert (running.state, running.position, running.percent) == ("running", None, 40)
    assert running.eta_seconds == pytest.approx(average * 0.6, abs=0.01)
    # b1 is first in the queue, then alice's a2 and a3
    assert (second.state, second.position, second.percent) == ("queued", 2, 0)
    assert second.eta_seconds == pytest.approx(average * 2, abs=0.01)
    assert third.position == 3 and third.eta_seconds == pytest.approx(average * 3, abs=0.01)
    assert third.quote == a3.quote and not third.cancel_requested
    [bobs] = await app.status.active(bob)
    assert (bobs.job_id, bobs.position) == (b1.id, 1)
    # no history for the tool: no ETA rather than a made-up one
    await app.status.cancel(alice, a3.id)
    upload = await app.media.ingest(alice.id, png())
    cut = await app.make_image.make(alice, Request("rmbg", images={"image": upload.id}))
    assert [v.eta_seconds for v in await app.status.active(alice) if v.job_id == cut.id] == [None]
    await app.status.cancel_all(alice)
    await app.status.cancel_all(bob)


async def test_cancel_from_status_releases_the_hold(held: tuple[App, ManualQueue]) -> None:
    app, _ = held
    alice, bob = await user(app, "alice"), await user(app, "bob")
    start = (await app.ledger.balance(alice.id)).total
    job = await make(app, alice)
    assert (await app.ledger.balance(alice.id)).total == start - job.quote
    with pytest.raises(NotFound):
        await app.status.cancel(bob, job.id)  # someone else's job does not exist
    cancelled = await app.status.cancel(alice, job.id)
    assert cancelled.done and cancelled.released == job.quote
    assert (await app.ledger.balance(alice.id)).total == start
    kinds = [e.kind for e in reversed(await app.ledger.history(alice.id)) if e.ref == job.ref]
    assert kinds == ["hold", "release"]
    with pytest.raises(Conflict, match="already cancelled"):
        await app.status.cancel(alice, job.id)
    assert await app.status.active(alice) == []
    assert await app.ledger.verify(alice.id)


async def test_cancel_all_stops_running_and_queued_jobs(app: App, engine: ScriptedEngine) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    start = (await app.ledger.balance(alice.id)).total
    engine.default = Script(hang=True, delay=0.01)
    jobs = [await make(app, alice) for _ in range(3)]
    others = await make(app, bob)
    for _ in range(500):
        if {(await app.jobs.get(j.id)).state for j in jobs} == {"running"}:
            break
        await asyncio.sleep(0.01)
    view = await app.status.active(alice)
    assert {v.state for v in view} == {"running"} and all(v.position is None for v in view)
    results = await app.status.cancel_all(alice)
    assert sorted(r.job_id for r in results) == sorted(j.id for j in jobs)
    done = [await app.jobs.wait(j.id, timeout=10) for j in jobs]
    assert {j.state for j in done} == {"cancelled"}
    assert (await app.ledger.balance(alice.id)).total == start
    assert await app.status.active(alice) == []
    assert [v.job_id for v in await app.status.active(bob)] == [others.id]
    await app.status.cancel(bob, others.id)
    await app.jobs.wait(others.id, timeout=10)


async def test_the_queue_queries_on_sqlite_and_postgresql(
    make_settings: Callable[..., Settings], db_url: str, engine: ScriptedEngine
) -> None:
    """Queue position, average run time and recent jobs by tool on both databases."""
    queue = ManualQueue()
    app = build(make_settings(database_url=db_url), engine=engine, queue=queue)
    queue.run = app.runner.run
    async with app:
        alice, bob = await user(app, "alice"), await user(app, "bob")
        first, second = await make(app, alice), await make(app, bob)
        third = await make(app, alice, tool="make")
        assert [await app.jobs.queue_position(j) for j in (first, second, third)] == [1, 2, 3]
        assert await app.jobs.average_run_seconds("make") is None
        queue.release(first.id)
        done = await app.jobs.wait(first.id, timeout=10)
        run = (done.finished_at - done.started_at).total_seconds()  # type: ignore[operator]
        assert await app.jobs.average_run_seconds("make") == pytest.approx(run)
        assert await app.jobs.queue_position(done) is None
        assert await app.jobs.queue_position(await app.jobs.get(third.id)) == 2
        assert [j.id for j in await app.jobs.recent(alice.id, limit=5)] == [third.id, first.id]
        assert await app.jobs.recent(alice.id, tool="rmbg") == []
        await app.status.cancel_all(alice)
        await app.status.cancel_all(bob)
