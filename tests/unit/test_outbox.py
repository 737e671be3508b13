"""Events that must not be lost survive a crash between the state change and the publish."""

from __future__ import annotations

import asyncio

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.events import Event, EventBus, JobFailed, JobQueued, SeenEvents
from stationthis.core.jobs import NewJob
from stationthis.core.replies import TelegramReply
from stationthis.core.users import Identity
from tests.support.scripted import ScriptedEngine


async def test_unpublished_events_are_published_at_the_next_start_and_only_once(
    settings: Settings,
) -> None:
    crashed = build(settings, engine=ScriptedEngine())  # never started: nothing publishes
    alice = await crashed.users.resolve(Identity("test", "alice"))
    job = await crashed.jobs.create(
        NewJob(owner_id=alice.id, payer_id=alice.id, tool="make", category="txt2img",
               params={"prompt": "x"}, quote=15, engine="scripted",
               reply={"platform": "telegram", "chat": 1})
    )
    await crashed.jobs.fail(job.id, "the GPU caught fire", "engine_failed")
    await crashed.db.dispose()

    received: list[Event] = []

    async def collect(event: Event) -> None:
        received.append(event)

    bus = EventBus()
    bus.subscribe(collect, JobQueued, JobFailed)
    async with build(settings, engine=ScriptedEngine(), bus=bus):
        pass
    assert [type(e) for e in received] == [JobQueued, JobFailed]
    failed = received[1]
    assert isinstance(failed, JobFailed)
    assert failed.job_id == job.id and failed.released == 15
    assert failed.reply == TelegramReply(chat=1)

    async with build(settings, engine=ScriptedEngine(), bus=bus):
        pass
    assert len(received) == 2  # already published: not delivered again


async def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = EventBus()
    got: list[str] = []

    async def broken(event: Event) -> None:
        raise RuntimeError("boom")

    async def fine(event: Event) -> None:
        got.append(event.id)

    bus.subscribe(broken)
    bus.subscribe(fine)
    event = JobQueued(job_id="j", owner_id="o", tool="make", quote=1)
    await bus.publish(event)
    assert got == [event.id]


def test_seen_events_lets_subscribers_ignore_duplicates() -> None:
    seen = SeenEvents(size=2)
    assert seen.first_time("a") and not seen.first_time("a")
    assert seen.first_time("b") and seen.first_time("c")
    assert seen.first_time("a")  # forgotten after the bound


async def test_events_published_at_once_are_marked_in_one_batch_and_never_twice(
    settings: Settings,
) -> None:
    """A commit's events reach subscribers right after it; their rows are marked published
    together at the relay's next poll (not one write per commit), and meanwhile their claim
    keeps another process's relay from publishing them again."""
    from sqlalchemy import event as sa_event
    from sqlalchemy import func, select

    from stationthis.core.events import OutboxRelay, add_all_to_outbox
    from stationthis.core.schema import outbox

    received: list[Event] = []

    async def collect(event: Event) -> None:
        received.append(event)

    app = build(settings, engine=ScriptedEngine())
    bus = EventBus()
    bus.subscribe(collect, JobFailed)
    relay = OutboxRelay(app.db, bus, poll_seconds=0.3)
    relay.start()
    marks: list[str] = []

    def count_marks(_c: object, _cur: object, sql: str, *_a: object) -> None:
        if sql.startswith("UPDATE outbox SET published_at"):
            marks.append(sql)

    sa_event.listen(app.db.engine.sync_engine, "before_cursor_execute", count_marks)
    try:
        events = [JobFailed(job_id=f"j{i}", owner_id="o", error="x", code="c", released=0)
                  for i in range(10)]
        for one in events:
            async with app.db.write() as conn:
                await add_all_to_outbox(conn, [one], claimed=True)
            await relay.publish_now([one])
        assert [e.id for e in received] == [e.id for e in events]  # at once, in order
        other = OutboxRelay(app.db, EventBus())  # another process's relay
        assert await other.drain() == 0  # claimed: not published twice
        for _ in range(50):
            async with app.db.read() as conn:
                left = (await conn.execute(select(func.count()).select_from(outbox).where(
                    outbox.c.published_at.is_(None)))).scalar_one()
            if not left:
                break
            await asyncio.sleep(0.05)
        assert left == 0
        assert len(marks) == 1  # ten commits, one statement marks them
    finally:
        sa_event.remove(app.db.engine.sync_engine, "before_cursor_execute", count_marks)
        await relay.stop()
        await app.db.dispose()
