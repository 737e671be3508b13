"""Several processes, one bot: an update Telegram delivers again (a retry, possibly to another
web node) makes one job, and the progress edits of a chat stay within Telegram's limits
across processes when they share Redis — all against the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.notify import JobNotice
from stationthis.core.replies import TelegramReply
from stationthis.core.users import Identity
from stationthis.platforms.telegram.app import (
    SECRET_HEADER,
    WEBHOOK_PATH,
    TelegramPlatform,
    webhook_secret,
)
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import bot_settings, from_bot, run_bot, wait_message
from tests.support.scripted import Script, ScriptedEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def photo(message: dict[str, Any]) -> bool:
    return from_bot(message) and "photo" in message


@pytest.mark.parametrize("shared", ["database", "redis"])
async def test_an_update_delivered_again_to_any_web_node_makes_one_job(
    fake: FakeTelegram, make_settings: Callable[..., Settings], request: pytest.FixtureRequest,
    shared: str,
) -> None:
    redis = {"redis_url": request.getfixturevalue("redis_url")} if shared == "redis" else {}
    alice = fake.user(1001, "Alice", "alice")
    engine = ScriptedEngine(Script(steps=4, delay=0.1))
    # two web nodes (two app builds on one database), behind one public URL
    async with run_bot(fake, make_settings, mode="webhook", engine=engine, **redis) as one, \
            run_bot(fake, make_settings, mode="webhook", engine=engine, **redis) as two:
        update = fake.send_text(alice, "/make a red fox in the snow")  # the fake delivers it
        secret = {SECRET_HEADER: webhook_secret(one.settings)}
        answers = []
        for node in (one, two, one):  # ... and Telegram retries it, reaching either node
            assert node.url is not None
            async with httpx.AsyncClient(base_url=node.url) as client:
                answers.append((await client.post(WEBHOOK_PATH, json=update,
                                                  headers=secret)).status_code)
        await wait_message(fake, alice, photo)
        account = await one.app.users.resolve(Identity("telegram", "1001"))
        jobs = await one.app.jobs.recent(account.id, limit=10)
    assert answers == [200, 200, 200]  # a retry is acknowledged, so Telegram stops retrying
    assert len(jobs) == 1
    assert len([m for m in fake.messages_in(alice) if photo(m)]) == 1


@contextlib.asynccontextmanager
async def worker(fake: FakeTelegram, make_settings: Callable[..., Settings],
                 **overrides: Any) -> AsyncIterator[TelegramPlatform]:
    """A process that only sends (a worker): its own app build, its own bot object."""
    settings = bot_settings(fake, make_settings, "polling", **overrides)
    app = build(settings, engine=ScriptedEngine())
    bot = TelegramPlatform(app, settings, receive=False)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
        await app.stop()


def running(percent: int) -> JobNotice:
    return JobNotice("j1", "owner", "make", "running", {"percent": percent})


async def test_progress_edits_of_a_chat_are_paced_across_processes(
    fake: FakeTelegram, make_settings: Callable[..., Settings], redis_url: str,
) -> None:
    alice = fake.user(1001, "Alice", "alice")
    fake.send_text(alice, "/start")
    limits = {"redis_url": redis_url, "telegram_edit_interval": 30.0}
    async with worker(fake, make_settings, **limits) as one, \
            worker(fake, make_settings, **limits) as two:
        status = await one.application.bot.send_message(alice.id, "⏳ queued")
        address = TelegramReply(chat=alice.id, message=status.message_id)
        # ten progress updates of one job from two processes, well within the interval
        await asyncio.gather(*((one if n % 2 else two).notifier.progress(address, running(n))
                               for n in range(10)))
    edits = [c for c in fake.calls_of("editMessageText") if c.params["chat_id"] == alice.id]
    assert len(edits) == 1  # not one per process


async def test_a_429_seen_by_one_process_pauses_the_chat_for_the_other(
    fake: FakeTelegram, make_settings: Callable[..., Settings], redis_url: str,
) -> None:
    alice = fake.user(1001, "Alice", "alice")
    fake.send_text(alice, "/start")
    limits = {"redis_url": redis_url, "telegram_edit_interval": 0.0}
    async with worker(fake, make_settings, **limits) as one, \
            worker(fake, make_settings, **limits) as two:
        status = await one.application.bot.send_message(alice.id, "⏳ queued")
        address = TelegramReply(chat=alice.id, message=status.message_id)
        fake.fail_next("editMessageText", 429, "Too Many Requests: retry after 30",
                       retry_after=30)
        await one.notifier.progress(address, running(10))  # refused: wait 30 s
        for n in range(5):
            await two.notifier.progress(address, running(20 + n))  # the other process waits
    edits = [c for c in fake.calls_of("editMessageText") if c.params["chat_id"] == alice.id]
    assert [c.status for c in edits] == [429]
