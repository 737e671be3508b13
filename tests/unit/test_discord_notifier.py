"""The Discord notifier against the fake REST server: progress edits coalesced and paused by
Discord's 429, stale interaction tokens, many images, and direct messages to linked users."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from stationthis.core.notify import JobNotice
from stationthis.core.replies import DirectReply, DiscordReply
from stationthis.core.users import Identity
from stationthis.platforms.discord.notifier import DiscordNotifier
from stationthis.platforms.discord.rest import DiscordRest
from stationthis.workflows.app import App
from tests.support.fake_discord import FakeDiscord
from tests.support.scripted import png

APP_ID, TOKEN = "42", "bot-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    found = FakeDiscord(APP_ID, TOKEN)
    await found.start()
    yield found
    await found.close()


@pytest.fixture
async def rest(fake: FakeDiscord) -> AsyncIterator[DiscordRest]:
    found = DiscordRest(fake.base_url, APP_ID, TOKEN)
    yield found
    await found.aclose()


def address(token: str = "t1", age: float = 0.0) -> DiscordReply:
    return DiscordReply(token=token, at=time.time() - age, channel="c9", message="1",
                        mention="555")


def running(percent: int, job: str = "j1") -> JobNotice:
    return JobNotice(job, "owner", "make", "running", {"percent": percent})


def edits(fake: FakeDiscord, token: str = "t1") -> list[str]:
    return [c.payload["content"] for c in fake.calls_to("PATCH", token) if c.status == 200]


async def test_progress_is_coalesced_per_response(app: App, rest: DiscordRest,
                                                  fake: FakeDiscord) -> None:
    notifier = DiscordNotifier(app, rest, edit_interval=30)
    for percent in (10, 20, 30):
        await notifier.progress(address(), running(percent))
    await notifier.progress(address("t2"), running(40, "j2"))
    assert edits(fake) == ["🎨 make: working · 10%…"]
    assert edits(fake, "t2") == ["🎨 make: working · 40%…"]


async def test_a_429_pauses_progress_edits_for_retry_after(app: App, rest: DiscordRest,
                                                           fake: FakeDiscord) -> None:
    notifier = DiscordNotifier(app, rest, edit_interval=0)
    fake.rate_limit_once("PATCH", "t1", retry_after=0.3)
    await notifier.progress(address(), running(10))
    await notifier.progress(address(), running(20))  # inside retry_after: not even tried
    assert len(fake.calls_to("PATCH", "t1")) == 1
    await asyncio.sleep(0.35)
    await notifier.progress(address(), running(30))
    assert edits(fake) == ["🎨 make: working · 30%…"]


async def test_an_old_token_is_not_used(app: App, rest: DiscordRest, fake: FakeDiscord) -> None:
    notifier = DiscordNotifier(app, rest, edit_interval=0)
    old = address(age=15 * 60)
    await notifier.progress(old, running(50))
    failed = JobNotice("j1", "owner", "make", "failed", error="boom", released=15)
    await notifier.finished(old, failed)
    assert fake.calls_to("PATCH") == []
    posted = fake.channel("c9")
    assert len(posted) == 1 and posted[0].content.startswith("<@555> ❌ make failed: boom")


async def test_more_than_ten_images_go_in_follow_ups(app: App, rest: DiscordRest,
                                                     fake: FakeDiscord) -> None:
    owner = await app.users.resolve(Identity("discord", "555"))
    items = [await app.media.ingest(owner.id, png(64, 64, (n * 20, 10, 10)))
             for n in range(12)]
    notice = JobNotice("j1", owner.id, "make", "succeeded", outputs=[i.id for i in items],
                       cost=120)
    await DiscordNotifier(app, rest).finished(address(), notice)
    original = fake.original("t1")
    assert original is not None and len(original.files) == 10
    assert original.content == "✅ make: 12 images · 120 points"
    assert len(original.components) == 5  # regenerate all + four images' rows
    rest_of = [fake.messages[m] for m in fake.followups["t1"]]
    assert [len(m.files) for m in rest_of] == [2]


async def test_a_linked_user_gets_a_direct_message(app: App, rest: DiscordRest,
                                                   fake: FakeDiscord) -> None:
    owner = await app.users.resolve(Identity("discord", "555"))
    item = await app.media.ingest(owner.id, png())
    notice = JobNotice("j1", owner.id, "make", "succeeded", outputs=[item.id], cost=15)
    await DiscordNotifier(app, rest).finished(DirectReply("discord", "555"), notice)
    (message,) = fake.channel("dm-555")
    assert message.content == "✅ make: done · 15 points" and len(message.files) == 1
    assert fake.calls_to("POST", "/users/@me/channels")[0].payload == {"recipient_id": "555"}
