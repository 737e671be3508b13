"""Commands on images: /upscale, /rmbg and /effect as replies to a user's photo or to one of
the bot's images; "add to dataset" under a result; a balance too short; Telegram's 429s;
and a job that was running when the process stopped."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.replies import DiscordReply
from stationthis.core.users import Identity
from stationthis.platforms.telegram.callbacks import unpack
from stationthis.workflows.make_image import Request
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import Script, ScriptedEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def png(width: int = 96, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 140, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def photos(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m]  # type: ignore[arg-type]


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


async def test_upscale_rmbg_and_effect_on_photos_and_on_the_bots_images(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1601)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        upload = fake.send_photo(alice, png())
        await wait_message(fake, alice, said("Got it"))
        fake.send_text(alice, "/upscale", reply_to=upload["message"])
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 1)
        fake.send_text(alice, "/effect watercolor painting", reply_to=upload["message"])
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 2)
        fake.send_text(alice, "/make a teapot")
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 3)
        teapot = photos(fake, alice)[2]
        fake.send_text(alice, "/rmbg", reply_to=teapot)
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 4)
        fake.send_photo(alice, png(), caption="/upscale")
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 5)
        account = await bot.app.users.resolve(Identity("telegram", "1601"))
        jobs = list(reversed(await bot.app.jobs.recent(account.id, limit=10)))
    assert [j.tool for j in jobs] == ["upscale", "img2img", "make", "rmbg", "upscale"]
    assert jobs[1].params["prompt"] == "watercolor painting"
    assert jobs[3].inputs["image"] == jobs[2].outputs[0]  # the bot's own image, not a copy
    assert jobs[0].inputs["image"] != jobs[4].inputs["image"]
    assert all(j.state == "succeeded" for j in jobs)


async def test_add_to_dataset_button(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1602)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a violet flower")
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 1)
        result = photos(fake, alice)[0]
        fake.press(alice, result, buttons(result)["📁 Add to dataset"])
        await wait_message(fake, alice, said("no dataset yet"))
        fake.send_text(alice, "/train create flowers")
        await wait_message(fake, alice, said("created"))
        fake.press(alice, result, buttons(result)["📁 Add to dataset"])
        pick = await wait_message(fake, alice, said("which dataset"))
        fake.press(alice, pick, buttons(pick)["📁 flowers (0)"])
        await wait_message(fake, alice, said("Added to flowers"))
        account = await bot.app.users.resolve(Identity("telegram", "1602"))
        [dataset] = await bot.app.datasets.list_for(account.id)
    assert [i.caption for i in dataset.images] == ["a violet flower"]


async def test_too_few_points_shows_what_fits_and_holds_nothing(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1603)
    async with run_bot(fake, make_settings, engine=ScriptedEngine(),
                       allowance={"amount": 20}) as bot:
        fake.send_text(alice, "/settings size 1024x1024")
        await wait_message(fake, alice, said("width: 1024"))
        fake.send_text(alice, "/make a huge mural")
        short = await wait_message(fake, alice, said("That costs"))
        account = await bot.app.users.resolve(Identity("telegram", "1603"))
        history = await bot.app.ledger.history(account.id)
    assert "20 are available" in short["text"] and "512×512 pixels" in short["text"]
    assert "Nothing was charged" in short["text"]
    assert all(e.kind != "hold" for e in history)


async def test_telegram_429_pauses_and_retries_the_delivery(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1604)
    engine = ScriptedEngine(Script(steps=6, delay=0.1))
    async with run_bot(fake, make_settings, engine=engine):
        fake.fail_next("editMessageText", 429, "Too Many Requests: retry after 1",
                       retry_after=1)
        fake.fail_next("sendPhoto", 429, "Too Many Requests: retry after 1", retry_after=1)
        fake.send_text(alice, "/make a busy street")
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 1, timeout=15)
    sends = fake.calls_of("sendPhoto")
    assert [c.status for c in sends] == [429, 200]
    assert sends[1].time - sends[0].time >= 0.9  # waited as told
    edits = fake.calls_of("editMessageText")
    assert edits[0].status == 429
    late = [c for c in edits[1:] if c.time - edits[0].time < 0.9]
    assert late == []  # no edit in that chat while Telegram said wait


async def test_a_job_lost_in_a_restart_edits_its_status_message_with_the_refund(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1605)
    async with run_bot(fake, make_settings, engine=ScriptedEngine(Script(hang=True))):
        fake.send_text(alice, "/make a very long job")
        status = await wait_message(fake, alice, said("working"))
    # the new process's engine does not know the run: the job is lost and refunded
    async with run_bot(fake, make_settings, engine=ScriptedEngine(Script(lose=True))) as bot:
        edited = await wait_message(fake, alice, lambda m: m["message_id"] ==
                                    status["message_id"] and "failed" in text_of(m))
        account = await bot.app.users.resolve(Identity("telegram", "1605"))
        balance = await bot.app.ledger.balance(account.id)
    assert "points were released" in edited["text"]
    assert balance.total == 1000


async def test_a_job_from_another_platform_is_delivered_by_direct_message_when_asked(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1606)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/start")
        await wait_message(fake, alice, said("Welcome"))
        account = await bot.app.users.resolve(Identity("telegram", "1606"))
        await bot.app.preferences.set(account.id, "notify_everywhere", True)
        job = await bot.app.make_image.make(
            account, Request("make", {"prompt": "made elsewhere"}),
            reply=DiscordReply(channel="5"))
        delivered = await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
    assert text_of(delivered).startswith("✅ make")
    assert unpack(buttons(delivered)["🔄 Regenerate"]) == ("r", [job.id])
