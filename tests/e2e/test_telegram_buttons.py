"""The buttons under delivered images: regenerate, upscale, variations, add to dataset —
after a restart too, and refused (with nothing lost) for another user or a stale button."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import Script, ScriptedEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def photos(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m]  # type: ignore[arg-type]


async def nth_photo(fake: FakeTelegram, chat: object, n: int) -> dict:  # type: ignore[type-arg]
    await wait_message(fake, chat, lambda m: len(photos(fake, chat)) >= n)  # type: ignore[arg-type]
    return photos(fake, chat)[n - 1]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_regenerate_upscale_and_variation_buttons(
    fake: FakeTelegram, make_settings: Callable[..., Settings], mode: str
) -> None:
    alice = fake.user(1101)
    async with run_bot(fake, make_settings, mode=mode, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a lighthouse")
        first = await nth_photo(fake, alice, 1)
        keys = buttons(first)
        pressed = fake.press(alice, first, keys["🔄 Regenerate"])
        again = await nth_photo(fake, alice, 2)
        fake.press(alice, first, keys["⬆️ Upscale"])
        up = await nth_photo(fake, alice, 3)
        fake.press(alice, first, keys["🎲 Variations"])
        await nth_photo(fake, alice, 4)
        account = await bot.app.users.resolve(Identity("telegram", "1101"))
        jobs = {j.origin or "new": j for j in await bot.app.jobs.recent(account.id, limit=10)}
    assert fake.callback_answer(pressed) is not None  # the press was answered
    assert set(jobs) == {"new", "regenerate", "upscale", "variation"}
    assert all(j.state == "succeeded" for j in jobs.values())
    assert jobs["regenerate"].parent_id == jobs["new"].id
    assert jobs["regenerate"].params["prompt"] == "a lighthouse"
    assert jobs["upscale"].tool == "upscale" and jobs["variation"].tool == "img2img"
    assert jobs["upscale"].inputs["image"] == jobs["new"].outputs[0]
    assert text_of(again).startswith("✅ make") and text_of(up).startswith("✅ upscale")


async def test_buttons_still_work_after_the_bot_is_rebuilt(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1102)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()):
        fake.send_text(alice, "/make a red barn")
        first = await nth_photo(fake, alice, 1)
    # a new process: new app, new bot, same database
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.press(alice, first, buttons(first)["🔄 Regenerate"])
        second = await nth_photo(fake, alice, 2)
        account = await bot.app.users.resolve(Identity("telegram", "1102"))
        jobs = await bot.app.jobs.recent(account.id, limit=5)
    assert text_of(second).startswith("✅ make")
    assert [j.origin for j in jobs] == ["regenerate", None]


async def test_another_users_press_and_a_stale_button_lose_nothing(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(1103, "Alice"), fake.user(1104, "Bob")
    group = fake.group(-1001103, "Studio")
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a comet", chat=group)
        first = await nth_photo(fake, group, 1)
        bob_press = fake.press(bob, first, buttons(first)["🔄 Regenerate"])
        await fake.wait_for("answerCallbackQuery")
        # a button whose image is gone (forged data of the same shape)
        bad = dict(first)
        bad["reply_markup"] = {"inline_keyboard": [[{"text": "x", "callback_data":
                                                      "u:AAAAAAAAAAAAAAAAAAAAAA"}]]}
        fake._chats[group.id].messages[first["message_id"]]["reply_markup"] = bad["reply_markup"]
        stale = fake.press(alice, first, "u:AAAAAAAAAAAAAAAAAAAAAA")
        await fake.wait_for("answerCallbackQuery", 2)
        bob_account = await bot.app.users.resolve(Identity("telegram", "1104"))
        alice_account = await bot.app.users.resolve(Identity("telegram", "1103"))
        bob_jobs = await bot.app.jobs.recent(bob_account.id, limit=5)
        alice_jobs = await bot.app.jobs.recent(alice_account.id, limit=5)
        bob_balance = await bot.app.ledger.balance(bob_account.id)
    answer = fake.callback_answer(bob_press)
    assert answer is not None and "belong" in answer["text"]
    stale_answer = fake.callback_answer(stale)
    assert stale_answer is not None and "out of date" in stale_answer["text"]
    assert bob_jobs == [] and bob_balance.total == 1000
    assert len(alice_jobs) == 1


async def test_a_batch_arrives_as_an_album_with_numbered_buttons(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    engine = ScriptedEngine(Script(outputs=3))
    alice = fake.user(1105)
    async with run_bot(fake, make_settings, engine=engine) as bot:
        fake.send_text(alice, "/settings batch 3")
        await wait_message(fake, alice, lambda m: from_bot(m) and "batch: 3" in text_of(m))
        fake.send_text(alice, "/make three cats")
        keyboard = await wait_message(fake, alice, lambda m: from_bot(m) and "⬆️ 3" in buttons(m))
        account = await bot.app.users.resolve(Identity("telegram", "1105"))
        [job] = await bot.app.jobs.recent(account.id, limit=5)
    [album] = fake.calls_of("sendMediaGroup")
    assert len(album.params["media"]) == 3 and job.params["batch"] == 3
    assert "🔄 Regenerate all" in buttons(keyboard)
    assert len(photos(fake, alice)) == 3
