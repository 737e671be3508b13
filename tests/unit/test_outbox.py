"""Events that must not be lost survive a crash between the state change and the publish."""

from __future__ import annotations

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
