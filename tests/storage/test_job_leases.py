"""Jobs across processes: claim, lease, fence, reclaim, hand back and cancel (SQLite and
PostgreSQL). Two Apps on one database stand for two processes; they share one scripted
engine, as two workers share one ComfyUI pool. (Real processes killed with SIGKILL are in
tests/cluster.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.jobs import Job
from stationthis.core.leases import JobLeases
from stationthis.core.queue import WakingQueue
from stationthis.core.users import Identity
from stationthis.core.worker import Worker
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine

FAST = {"worker_lease_seconds": 2, "worker_heartbeat_seconds": 0.3, "worker_poll_seconds": 0.1,
        "worker_grace_seconds": 0}


class Parked(WakingQueue):
    """A queue that runs nothing: jobs stay queued for the claims under test."""

    async def enqueue(self, job_id: str) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def make(app: App, name: str, **options: Any) -> Job:
    account = await app.users.resolve(Identity("test", name))
    await app.ledger.grant(account.id, 10_000, key=f"grant:{name}:{uuid.uuid4().hex}")
    return await app.make_image.make(account, Request("make", {"prompt": "a fox", **options}))


async def balance(app: App, job: Job) -> int:
    return (await app.ledger.balance(job.payer_id)).total


def kill(app: App) -> None:
    """What ``kill -9`` leaves behind: leases held, nothing handed back, nothing finished."""
    worker = app.queue
    assert isinstance(worker, Worker)
    worker._stopping = True
    for task in [*worker._loops, *worker._active.values()]:
        task.cancel()
    if worker._beat is not None:
        worker._beat.cancel()
    worker._active.clear()
    worker._loops = []
    worker._beat = None


async def test_two_workers_never_claim_the_same_job(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(database_url=db_url, max_queued_per_user=50)
    async with build(settings, engine=ScriptedEngine(), queue=Parked()) as app:
        made = [await make(app, f"user{i % 5}", seed=i) for i in range(30)]
        leases = JobLeases(app.db, 30)
        one, two = await asyncio.gather(
            *[asyncio.gather(*[leases.claim(w, 4) for _ in range(4)]) for w in ("w1", "w2")]
        )
        first = [job.id for batch in one for job in batch]
        second = [job.id for batch in two for job in batch]
        assert len(first) + len(second) == 30
        assert set(first).isdisjoint(second)
        assert set(first) | set(second) == {job.id for job in made}
        assert await leases.claim("w3", 10) == []  # every lease is live


async def test_the_owner_with_the_fewest_running_jobs_goes_first(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(database_url=db_url)
    async with build(settings, engine=ScriptedEngine(), queue=Parked()) as app:
        alice = [await make(app, "alice", seed=i) for i in range(3)]
        bob = await make(app, "bob")
        leases = JobLeases(app.db, 30)
        assert [j.id for j in await leases.claim("w1", 1)] == [alice[0].id]
        # Alice now has a job running; Bob has none: Bob's newer job goes before hers.
        assert [j.id for j in await leases.claim("w1", 1)] == [bob.id]
        assert [j.id for j in await leases.claim("w1", 1)] == [alice[1].id]


async def test_a_worker_that_lost_its_lease_can_neither_finish_nor_charge(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(database_url=db_url)
    async with build(settings, engine=ScriptedEngine(), queue=Parked()) as app:
        job = await make(app, "alice")
        before = await balance(app, job)
        stale = JobLeases(app.db, 0.001)
        [claimed] = await stale.claim("w-old", 1)
        await asyncio.sleep(0.01)  # its lease runs out
        [again] = await JobLeases(app.db, 30).claim("w-new", 1)
        assert again.id == claimed.id == job.id and again.lease_owner == "w-new"
        assert not await app.jobs.mark_running(job.id, "run", worker="w-old")
        assert await app.jobs.mark_running(job.id, "run", worker="w-new")
        kept, _ = await stale.renew("w-old", [job.id])
        assert kept == set()
        await app.jobs.succeed(job.id, [], cost=job.quote, worker="w-old")
        assert (await app.jobs.get(job.id)).state == "running"
        assert await balance(app, job) == before  # held, not charged
        await app.jobs.fail(job.id, "boom", worker="w-old")
        assert (await app.jobs.get(job.id)).state == "running"
        done = await app.jobs.succeed(job.id, [], cost=job.quote, worker="w-new")
        assert done.state == "succeeded"
        assert await balance(app, job) == before + job.quote - job.quote


async def test_a_killed_workers_job_is_resumed_by_its_run_and_charged_once(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    engine = ScriptedEngine(Script(steps=15, delay=0.1))
    settings = make_settings(database_url=db_url, **FAST)
    a, b = build(settings, engine=engine), build(settings, engine=engine, role="worker")
    await a.start()
    try:
        job = await make(a, "alice")
        start = await balance(a, job) + job.quote  # before the hold
        for _ in range(100):
            if (await a.jobs.get(job.id)).state == "running":
                break
            await asyncio.sleep(0.05)
        kill(a)
        async with b:
            done = await b.jobs.wait(job.id, timeout=30)
        assert done.state == "succeeded"
        assert engine.submits.count(job.id) == 1  # resumed by its run, not submitted again
        assert await balance(b, job) == start - job.quote
        assert len(done.outputs) == 1
    finally:
        await a.stop()


async def test_a_stopping_worker_hands_its_jobs_back_at_once(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    engine = ScriptedEngine(Script(steps=20, delay=0.1))
    settings = make_settings(database_url=db_url, **{**FAST, "worker_lease_seconds": 60})
    a, b = build(settings, engine=engine), build(settings, engine=engine, role="worker")
    await a.start()
    job = await make(a, "alice")
    for _ in range(100):
        if (await a.jobs.get(job.id)).state == "running":
            break
        await asyncio.sleep(0.05)
    await a.stop()  # grace 0: handed back, though its lease had a minute left
    assert (await b.jobs.get(job.id)).lease_owner is None
    async with b:
        done = await b.jobs.wait(job.id, timeout=20)  # well inside the 60 s lease
    assert done.state == "succeeded"


async def test_a_cancel_made_in_another_process_stops_the_run_and_costs_nothing(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    engine = ScriptedEngine(Script(hang=True))
    settings = make_settings(database_url=db_url, **FAST)
    runner, web = build(settings, engine=engine, role="worker"), build(settings, role="web")
    async with runner, web:
        job = await make(web, "alice")
        start = await balance(web, job) + job.quote
        for _ in range(200):
            if (await web.jobs.get(job.id)).state == "running":
                break
            await asyncio.sleep(0.05)
        answer = await web.jobs.cancel(job.id)
        assert answer.cancel_requested and not answer.finished
        done = await web.jobs.wait(job.id, timeout=10)
        assert done.state == "cancelled"
        assert job.id in engine.cancels
        assert await balance(web, job) == start


async def test_a_result_that_arrives_after_a_cancel_is_not_charged(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(database_url=db_url)
    async with build(settings, engine=ScriptedEngine(), queue=Parked()) as app:
        job = await make(app, "alice")
        start = await balance(app, job) + job.quote
        assert len(await JobLeases(app.db, 30).claim("w1", 1)) == 1
        assert await app.jobs.mark_running(job.id, "run", worker="w1")
        await app.jobs.cancel(job.id)
        done = await app.jobs.succeed(job.id, [], cost=job.quote, worker="w1")
        assert done.state == "cancelled"
        assert await balance(app, job) == start


async def test_a_database_failure_under_a_job_sends_it_back_instead_of_failing_it(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """A pool timeout or a dropped connection is not the job's fault: the job goes back to
    the queue and runs again, instead of failing as an internal error."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    settings = make_settings(database_url=db_url, **FAST)
    app = build(settings, engine=ScriptedEngine(Script(steps=2)))
    broken = {"left": 1}

    def fail_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE jobs SET state") and broken["left"]:
            broken["left"] -= 1
            raise OperationalError(statement, {}, Exception("connection lost"))

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", fail_once)
    async with app:
        job = await make(app, "alice")
        start = await balance(app, job) + job.quote  # before the hold
        done = await app.jobs.wait(job.id, timeout=30)
        assert broken["left"] == 0  # the failure happened
        assert done.state == "succeeded"
        assert await balance(app, done) == start - done.quote  # charged once


async def test_a_job_made_beside_an_idle_worker_is_born_leased_to_it(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """No claim and no wake-up between the request and the engine: the job's row names the
    local worker from its first commit, and another worker's claim cannot take it."""
    engine = ScriptedEngine(Script(steps=3, delay=0.05))
    settings = make_settings(database_url=db_url, worker_poll_seconds=30)  # no poll helps
    async with build(settings, engine=engine) as app:
        worker = app.queue
        assert isinstance(worker, Worker)
        await asyncio.sleep(0.1)  # its first claim found nothing waiting
        job = await make(app, "alice")
        assert job.lease_owner == worker.id
        assert (await app.jobs.get(job.id)).lease_owner == worker.id
        assert await JobLeases(app.db, 30).claim("w-other", 5) == []
        done = await app.jobs.wait(job.id, timeout=10)
        assert done.state == "succeeded" and engine.submits.count(job.id) == 1


async def test_jobs_that_wait_for_a_slot_run_in_order_before_newer_ones(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """A full worker queues new jobs unleased; when a slot frees, the waiting jobs are
    claimed oldest first, and a job made while some wait is not born leased ahead of them."""
    engine = ScriptedEngine(Script(steps=4, delay=0.1))
    settings = make_settings(database_url=db_url, max_running=1, max_queued_per_user=10,
                             worker_poll_seconds=30)
    async with build(settings, engine=engine) as app:
        await asyncio.sleep(0.1)
        first = await make(app, "alice")
        assert first.lease_owner is not None  # the one slot was free
        waiting = [await make(app, "bob", seed=i) for i in range(2)]
        assert all(job.lease_owner is None for job in waiting)  # queued, not handed off
        done = [await app.jobs.wait(job.id, timeout=20) for job in [first, *waiting]]
        assert [d.state for d in done] == ["succeeded"] * 3
        started = [d.started_at for d in done]
        assert all(a is not None for a in started) and started == sorted(started)
        # The slot is free and nothing waits: the next job is born leased again.
        await asyncio.sleep(0.1)
        again = await make(app, "carol")
        assert again.lease_owner is not None
        assert (await app.jobs.wait(again.id, timeout=10)).state == "succeeded"
