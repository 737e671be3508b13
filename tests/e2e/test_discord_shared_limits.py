"""Two processes completing interactions of one Discord application share Redis: the
progress edits of one response stay one per interval across both, and Discord's 429 on one
pauses the other too (against the fake Discord REST server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from stationthis.core.notify import JobNotice
from stationthis.core.ratelimit import PaceLimits
from stationthis.core.redis_limits import RedisLimits
from stationthis.core.replies import DiscordReply
from stationthis.platforms.discord.notifier import DiscordNotifier
from stationthis.platforms.discord.rest import DiscordRest
from stationthis.workflows.app import App
from tests.support.fake_discord import FakeDiscord

APP_ID, TOKEN = "42", "bot-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    found = FakeDiscord(APP_ID, TOKEN)
    await found.start()
    yield found
    await found.close()


@pytest.fixture
async def processes(app: App, fake: FakeDiscord, redis_url: str
                    ) -> AsyncIterator[list[tuple[RedisLimits, DiscordRest]]]:
    made = [(RedisLimits(app.db, redis_url), DiscordRest(fake.base_url, APP_ID, TOKEN))
            for _ in range(2)]
    yield made
    for limits, rest in made:
        await rest.aclose()
        await limits.close()


def address() -> DiscordReply:
    return DiscordReply(token="t1", at=time.time(), channel="c9")


def running(percent: int) -> JobNotice:
    return JobNotice("j1", "owner", "make", "running", {"percent": percent})


async def test_progress_edits_of_a_response_are_paced_across_processes(
    app: App, fake: FakeDiscord, processes: list[tuple[RedisLimits, DiscordRest]],
) -> None:
    one, two = (DiscordNotifier(app, rest, pacer=limits.pacer("discord", PaceLimits(30)))
                for limits, rest in processes)
    await asyncio.gather(*((one if n % 2 else two).progress(address(), running(n))
                           for n in range(10)))
    assert len(fake.calls_to("PATCH", "t1")) == 1  # not one per process


async def test_a_429_on_one_process_pauses_the_response_for_the_other(
    app: App, fake: FakeDiscord, processes: list[tuple[RedisLimits, DiscordRest]],
) -> None:
    one, two = (DiscordNotifier(app, rest, pacer=limits.pacer("discord", PaceLimits(0)))
                for limits, rest in processes)
    fake.rate_limit_once("PATCH", "t1", retry_after=30)
    await one.progress(address(), running(10))
    for n in range(5):
        await two.progress(address(), running(20 + n))  # inside retry_after: not even tried
    assert len(fake.calls_to("PATCH", "t1")) == 1
