"""The notification service through real jobs: progress coalesced per job, latest state
winning; completion exactly once per (event, target) across re-publishes and restarts."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import insert, update

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.coalesce import Coalescer
from stationthis.core.db import utcnow
from stationthis.core.errors import InvalidInput
from stationthis.core.events import Event, JobProgressed, JobSucceeded
from stationthis.core.jobs import Job, NewJob
from stationthis.core.notifications import target_of
from stationthis.core.replies import DirectReply, OtherReply, TelegramReply
from stationthis.core.schema import outbox, preferences
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.recording_notifier import RecordingNotifier
from tests.support.scripted import Script, ScriptedEngine

INTERVAL = 0.2
TELEGRAM = {"platform": "telegram", "chat": 1}


@pytest.fixture
def telegram() -> RecordingNotifier:
    return RecordingNotifier("telegram")


@pytest.fixture
def discord() -> RecordingNotifier:
    return RecordingNotifier("discord")


@pytest.fixture
def notify_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(notify_progress_interval=INTERVAL)


@pytest.fixture
async def app(
    notify_settings: Settings, engine: ScriptedEngine, telegram: RecordingNotifier,
    discord: RecordingNotifier,
) -> AsyncIterator[App]:
    app = build(notify_settings, engine=engine, notifiers=[telegram, discord])
    app.runner.progress_interval = 0  # every engine step becomes a JobProgressed
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def alice(app: App) -> Account:
    return await app.users.resolve(Identity("telegram", "1"), "alice")


async def run_job(
    app: App, user: Account, reply: dict[str, Any] | None = TELEGRAM, script: Script | None = None
) -> Job:
    engine = app.engine
    assert isinstance(engine, ScriptedEngine)
    if script is not None:
        engine.script(script)
    job = await app.make_image.make(user, Request("make", {"prompt": "a fox"}), reply=reply)
    done = await app.jobs.wait(job.id, timeout=10)
    await app.relay.drain()  # its completion is published (the relay may not have run yet)
    await app.notifications.wait_idle()
    return done


def collected(app: App, *types: type[Event]) -> list[Event]:
    seen: list[Event] = []

    async def collect(event: Event) -> None:
        seen.append(event)

    app.bus.subscribe(collect, *types)
    return seen


async def test_progress_is_coalesced_per_job_and_the_final_state_sent_once(
    app: App, telegram: RecordingNotifier
) -> None:
    events = collected(app, JobProgressed)
    done = await run_job(app, await alice(app), script=Script(steps=60, delay=0.01))
    progress = telegram.progress_of(done.id)
    assert len(events) > 60 and 1 <= len(progress) < len(events)  # 60 steps of 10 ms
    gaps = [b.at - a.at for a, b in itertools.pairwise(progress)]
    assert all(gap >= INTERVAL - 0.005 for gap in gaps), gaps
    [final] = telegram.finished_of(done.id)
    assert final.address == TELEGRAM
    assert final.notice.state == "succeeded" and final.notice.tool == "make"
    assert final.notice.outputs == done.outputs and final.notice.cost == done.cost
    assert all(p.done_at <= final.at for p in progress)  # nothing overwrites the final message
    assert telegram.max_in_flight == 1


async def test_the_latest_update_in_a_window_is_delivered_at_its_end(
    app: App, telegram: RecordingNotifier
) -> None:
    owner = await alice(app)
    job = await app.jobs.create(  # not queued: only our synthetic events move it
        NewJob(owner_id=owner.id, payer_id=owner.id, tool="make", category="txt2img",
               params={}, quote=1, engine="scripted", reply=TELEGRAM)
    )
    for step in range(1, 31):
        await app.bus.publish(
            JobProgressed(job_id=job.id, owner_id=owner.id, reply=TELEGRAM, state="running",
                          progress={"step": step, "total": 30})
        )
        await asyncio.sleep(0.002)
    await app.notifications.wait_idle()
    calls = telegram.progress_of(job.id)
    assert [c.notice.progress["step"] for c in calls] == [1, 30]  # first at once, latest last
    assert calls[1].at - calls[0].at >= INTERVAL - 0.005
    assert calls[0].notice.tool == "make" and calls[0].address == TELEGRAM

    await app.jobs.fail(job.id, "stopped", "test")
    await app.relay.drain()
    late = JobProgressed(job_id=job.id, owner_id=owner.id, reply=TELEGRAM, state="running",
                         progress={"step": 31})
    await app.bus.publish(late)  # after the final message: dropped
    await app.notifications.wait_idle()
    assert len(telegram.progress_of(job.id)) == 2 and len(telegram.finished_of(job.id)) == 1


async def test_a_slow_platform_for_one_job_does_not_delay_another(
    notify_settings: Settings, engine: ScriptedEngine
) -> None:
    slow = RecordingNotifier(
        "telegram", delay_of=lambda address, notice: 1.0 if address["chat"] == 1 else 0.0
    )
    async with build(notify_settings, engine=engine, notifiers=[slow]) as app:
        owner = await alice(app)
        started = time.monotonic()
        a = await app.make_image.make(owner, Request("make", {"prompt": "a"}), reply=TELEGRAM)
        b = await app.make_image.make(owner, Request("make", {"prompt": "b"}),
                                      reply={"platform": "telegram", "chat": 2})
        [b_done] = await slow.wait_for("finished", job_id=b.id)
        assert b_done.done_at - started < 0.8  # A's calls take 1 s each
        [a_done] = await slow.wait_for("finished", job_id=a.id)
        assert all(p.done_at <= a_done.at for p in slow.progress_of(a.id))
        assert slow.progress_of(a.id) and slow.interrupted == []  # waited for, not cut off
        assert slow.max_in_flight == 1  # never two calls at once for one job


async def test_completion_is_delivered_once_even_when_published_again(
    app: App, telegram: RecordingNotifier
) -> None:
    seen = collected(app, JobSucceeded)
    done = await run_job(app, await alice(app))
    [event] = [e for e in seen if isinstance(e, JobSucceeded) and e.job_id == done.id]
    await app.bus.publish(event)
    await asyncio.gather(app.bus.publish(event), app.bus.publish(event))
    await app.notifications.wait_idle()
    assert len(telegram.finished_of(done.id)) == 1


async def test_failure_and_cancel_notices_carry_the_error_and_released_points(
    app: App, telegram: RecordingNotifier
) -> None:
    owner = await alice(app)
    failed = await run_job(app, owner, script=Script(fail="CUDA out of memory"))
    [notice] = [c.notice for c in telegram.finished_of(failed.id)]
    assert notice.state == "failed" and notice.error == "CUDA out of memory"
    assert notice.error_code == "engine_failed" and notice.released == failed.quote

    engine = app.engine
    assert isinstance(engine, ScriptedEngine)
    engine.script(Script(hang=True))
    job = await app.make_image.make(owner, Request("make", {"prompt": "x"}), reply=TELEGRAM)
    await telegram.wait_for("progress", job_id=job.id)
    await app.jobs.cancel(job.id, owner.id)
    [call] = await telegram.wait_for("finished", job_id=job.id)
    assert call.notice.state == "cancelled" and call.notice.released == job.quote
    assert call.notice.outputs == [] and call.notice.error is None


async def test_a_crash_between_finishing_and_notifying_notifies_once_at_the_next_start(
    notify_settings: Settings,
) -> None:
    crashed = build(notify_settings, engine=ScriptedEngine())  # never started: no relay
    owner = await alice(crashed)
    job = await crashed.jobs.create(
        NewJob(owner_id=owner.id, payer_id=owner.id, tool="make", category="txt2img",
               params={}, quote=15, engine="scripted", reply=TELEGRAM)
    )
    await crashed.jobs.succeed(job.id, [], cost=12)
    await crashed.db.dispose()

    telegram = RecordingNotifier("telegram")
    async with build(notify_settings, engine=ScriptedEngine(), notifiers=[telegram]):
        pass  # start re-publishes; stop waits for the delivery
    [call] = telegram.finished_of(job.id)
    assert call.notice.state == "succeeded" and call.notice.cost == 12
    assert call.address == TELEGRAM

    async with build(notify_settings, engine=ScriptedEngine(), notifiers=[telegram]) as again:
        async with again.db.write() as conn:  # as if the relay died before marking it
            await conn.execute(update(outbox).values(published_at=None))
        await again.relay.drain()
    assert len(telegram.finished_of(job.id)) == 1


async def linked_alice(app: App, everywhere: bool) -> Account:
    """alice on Telegram (1) and Discord (456) and a platform without a notifier."""
    owner = await alice(app)
    for ident in (Identity("discord", "456"), Identity("matrix", "m1")):
        other = await app.users.resolve(ident)
        await app.users.redeem_link_code(await app.users.create_link_code(owner.id), other.id)
    async with app.db.write() as conn:
        await conn.execute(
            insert(preferences).values(account_id=owner.id, key="notify_everywhere",
                                       value=everywhere, updated_at=utcnow())
        )
    return owner


@pytest.mark.parametrize("everywhere", [True, False])
async def test_notify_everywhere_reaches_the_other_linked_platforms_once_each(
    app: App, telegram: RecordingNotifier, discord: RecordingNotifier, everywhere: bool
) -> None:
    seen = collected(app, JobSucceeded)
    done = await run_job(app, await linked_alice(app, everywhere))
    await app.bus.publish(seen[-1])  # re-published: nobody hears it twice
    await app.notifications.wait_idle()
    assert [c.address for c in telegram.finished_of(done.id)] == [TELEGRAM]
    expected = [{"platform": "discord", "user": "456"}] if everywhere else []
    assert [c.address for c in discord.finished_of(done.id)] == expected
    assert discord.progress_of() == []  # progress only where the job came from


async def test_a_failing_notifier_is_logged_retried_on_republish_and_spares_the_others(
    app: App, telegram: RecordingNotifier, discord: RecordingNotifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram.fail_times, telegram.fail_on = 1, frozenset({"finished"})
    seen = collected(app, JobSucceeded)
    with caplog.at_level(logging.ERROR, "stationthis.core.notifications"):
        done = await run_job(app, await linked_alice(app, True))
    assert len(telegram.failures) == 1 and telegram.finished_of(done.id) == []
    assert len(discord.finished_of(done.id)) == 1
    assert any("telegram notifier failed" in r.getMessage() for r in caplog.records)

    await app.bus.publish(seen[-1])  # e.g. the relay re-publishes after a restart
    await app.notifications.wait_idle()
    assert len(telegram.finished_of(done.id)) == 1
    assert len(discord.finished_of(done.id)) == 1


@pytest.mark.parametrize("reply", [None, {"platform": "irc", "channel": "#art"}])
async def test_no_reply_address_or_an_unknown_platform_means_no_notice(
    app: App, telegram: RecordingNotifier, discord: RecordingNotifier,
    reply: dict[str, Any] | None,
) -> None:
    done = await run_job(app, await alice(app), reply=reply)
    assert done.state == "succeeded"
    assert telegram.calls == telegram.failures == discord.calls == []


def test_targets_are_stable_names_of_an_address() -> None:
    assert target_of(TelegramReply(chat=1, message=7)) == "telegram:chat=1,message=7"
    assert target_of(DirectReply("discord", "456")) == "discord:user=456"
    long = target_of(OtherReply("irc", {"session": "x" * 400}))
    assert long.startswith("irc:#") and len(long) <= 300


async def test_the_coalescer_keeps_keys_apart_and_sends_nothing_after_close() -> None:
    sent: list[tuple[str, int]] = []

    async def send(value: tuple[str, int]) -> bool:
        if value[0] == "slow":
            await asyncio.sleep(1.0)
        sent.append(value)
        return True

    coalescer: Coalescer[tuple[str, int]] = Coalescer(send, 0.1)
    for i in (1, 2, 3):
        coalescer.offer("slow", ("slow", i))
        coalescer.offer("fast", ("fast", i))
        await asyncio.sleep(0)  # the first offer of a key starts its delivery at once
    await asyncio.sleep(0.4)
    assert sent == [("fast", 1), ("fast", 3)]  # the slow key's call holds nobody else up
    coalescer.close("slow")  # its job finished: ("slow", 3) was pending and is dropped
    coalescer.offer("slow", ("slow", 4))
    await coalescer.settle("slow")  # waits for ("slow", 1), in flight
    await asyncio.sleep(0.2)
    assert sent == [("fast", 1), ("fast", 3), ("slow", 1)] and coalescer.tasks() == []


async def test_a_user_turns_notify_everywhere_on_with_their_settings(
    app: App, telegram: RecordingNotifier, discord: RecordingNotifier
) -> None:
    """The setting every platform shows (``/settings notify_everywhere on``, the web and
    API settings, ``stationthis settings set``) is the one the notifications read."""
    alice = await linked_alice(app, False)
    view = await app.user_settings.set(alice, "notify_everywhere", "on")
    assert view["notify_everywhere"].value is True and view["notify_everywhere"].source == "user"
    done = await run_job(app, alice)
    await app.notifications.wait_idle()
    assert [c.address for c in discord.finished_of(done.id)] == [
        {"platform": "discord", "user": "456"}]
    with pytest.raises(InvalidInput, match="on or off"):
        await app.user_settings.set(alice, "notify_everywhere", "sometimes")
    off = await app.user_settings.set(alice, "notify_everywhere", "off")
    assert off["notify_everywhere"].value is False


async def test_the_account_page_shows_and_sets_notify_everywhere(app: App) -> None:
    """On the web the setting is a plain on/off choice showing the stored value."""
    import httpx

    from stationthis.platforms.web.app import create_app
    from tests.web_pages.conftest import Browser

    transport = httpx.ASGITransport(app=create_app(app, manage_lifecycle=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        web = Browser(client)
        await web.sign_up("wanda")
        page = (await web.get("/account")).text
        assert 'aria-label="notify_everywhere"' in page
        done = await web.post("/account/settings", {"key": "notify_everywhere", "value": "on"})
        assert done.status_code in (200, 303)
        page = (await web.get("/account")).text
        row = page[page.index('id="set-notify_everywhere"'):]
        assert "<option selected>on</option>" in row[:row.index("</select>")]
        account = await app.users.resolve(Identity("web", "wanda"))
        assert (await app.user_settings.show(account))["notify_everywhere"].value is True
