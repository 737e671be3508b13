"""Rate limits never stop normal work: a user who makes an image, upscales it, checks the
balance, adds photos to a dataset one by one and confirms the training is never told to
slow down (the default limits, through the fake Bot API); a flood of job starts still is,
once, with when to try again — and a flood of reads meets the flood cap."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def png(n: int, size: int = 320) -> bytes:
    image = Image.new("RGB", (size, size), (40 * n % 256, 200 - 20 * n, 90 + 15 * n))
    for x in range(0, size, 16):
        image.paste((255 - 30 * n % 256, 40, 200), (x, x, x + 8, x + 8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


def replies(fake: FakeTelegram, chat: object) -> list[str]:
    return [text_of(m) for m in fake.messages_in(chat) if from_bot(m)]  # type: ignore[arg-type]


def photos(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m]  # type: ignore[arg-type]


async def read_on(fake: FakeTelegram) -> None:
    """Two more polls: every update sent so far was read (and answered or dropped)."""
    await fake.wait_for("getUpdates", len(fake.calls_of("getUpdates")) + 2)


async def test_a_normal_session_is_never_told_to_slow_down(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1701)
    async with run_bot(fake, make_settings, new_user_grant=5000) as bot:
        fake.send_text(alice, "/make a lighthouse at dusk")
        made = await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m, 30)
        fake.press(alice, made, buttons(made)["⬆️ Upscale"])
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 2, 30)
        fake.send_text(alice, "/balance")
        await wait_message(fake, alice, said("points"))
        fake.send_text(alice, "/train create lamp")
        await wait_message(fake, alice, said("Dataset lamp created"))
        for n in range(8):  # one by one, as people send them
            fake.send_photo(alice, png(n), caption=f"/train add lamp lamp photo {n}")
            await wait_message(fake, alice, said(f"images {n + 1}/"))
        fake.send_text(alice, "/train view lamp")
        view = await wait_message(fake, alice, said("Images 8/"))
        fake.press(alice, view, buttons(view)["🚀 Train"])
        quote = await wait_message(fake, alice, said("Training lamp"))
        fake.press(alice, quote, buttons(quote)["🚀 Train"])
        await wait_message(fake, alice, said("is ready"), timeout=60)
        account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        jobs = await bot.app.jobs.recent(account.id, limit=5)
    said_all = replies(fake, alice)
    assert not [t for t in said_all if "try again in" in t.lower()], said_all
    assert jobs[0].tool == "train" and jobs[0].state == "succeeded"
    answers = [c.params.get("text") for c in fake.calls_of("answerCallbackQuery")]
    assert not [a for a in answers if a and "try again" in a.lower()]


async def test_a_flood_of_job_starts_is_refused_once_with_when_to_retry(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1702)
    # the default burst of job starts; the refill slowed so the count is exact
    async with run_bot(fake, make_settings, new_user_grant=100_000, max_queued_per_user=50,
                       telegram_rate_per_minute=0.01) as bot:
        burst = bot.settings.telegram_rate_burst
        for n in range(30):
            fake.send_text(alice, f"/make flood {n}")
        await wait_message(fake, alice, said("faster than I can take them"))
        await wait_message(fake, alice, lambda m: len(replies(fake, alice)) >= burst + 1)
        await read_on(fake)
        account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        jobs = await bot.app.jobs.recent(account.id, limit=50)
    busy = [t for t in replies(fake, alice) if "faster than" in t]
    assert len(busy) == 1  # a flood is answered once, not 18 times
    assert "try again in" in busy[0] and "Nothing was done or charged" in busy[0]
    assert len(jobs) == burst < 30


async def test_reads_are_limited_only_by_the_flood_cap(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(1703), fake.user(1704)
    async with run_bot(fake, make_settings, telegram_rate_burst=1,
                       telegram_rate_per_minute=0.01, telegram_flood_burst=5):
        for _ in range(8):
            fake.send_text(alice, "/balance")
        fake.send_text(bob, "/balance")
        await wait_message(fake, bob, lambda m: from_bot(m))
        await wait_message(fake, alice, lambda m: len(replies(fake, alice)) >= 6)
        await read_on(fake)
    said_all = replies(fake, alice)
    assert sum("points" in r for r in said_all) == 5  # reads do not use the job allowance
    [slow] = [r for r in said_all if "Slow down" in r]
    assert "try again in" in slow.lower()


async def test_group_chatter_not_for_the_bot_uses_no_allowance(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1705)
    group = fake.group(-1705, "chatty")
    group.admins.add(fake.bot["id"])  # the bot reads every message of the group
    async with run_bot(fake, make_settings, telegram_flood_burst=3):
        for n in range(6):
            fake.send_text(alice, f"talking to friends {n}", chat=group)
        await read_on(fake)
        fake.send_text(alice, "/balance", chat=group)
        await wait_message(fake, group, said("points"))
    said_all = replies(fake, group)
    assert not [t for t in said_all if "slow down" in t.lower()], said_all
