"""/describe and /loras on Telegram, on the preview engine: a photo described into prompts
with ▶️ buttons, one tap makes that prompt into an image (read back from the job, not the
button); someone else's ▶️ is refused and costs them nothing; /loras lists the server's
LoRAs with how to use them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.workflows import describe as describing
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import png


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


def photos(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m]  # type: ignore[arg-type]


async def test_describe_a_photo_then_run_one_of_its_prompts(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(2801)
    async with run_bot(fake, make_settings) as bot:
        photo = fake.send_photo(alice, png(160, 96, (30, 90, 200)))
        fake.send_text(alice, "/describe", reply_to=photo["message"])
        found = await wait_message(fake, alice, said("📝 describe"), timeout=30)
        keys = buttons(found)
        run = [data for text, data in keys.items() if text.startswith("▶️")]
        fake.press(alice, found, keys["▶️ Run 2"])
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 1, timeout=30)
        made = photos(fake, alice)[0]
        fake.send_photo(alice, png(64, 64), caption="/describe")  # as the photo's caption
        await wait_message(fake, alice, lambda m: len([x for x in fake.messages_in(alice)
                                                       if said("📝 describe")(x)]) >= 2,
                           timeout=30)
        account = await bot.app.users.resolve(Identity("telegram", "2801"))
        jobs = list(reversed(await bot.app.jobs.recent(account.id, limit=10)))
        prompts = await describing.prompts(bot.app.media, jobs[0])
    assert [j.tool for j in jobs] == ["describe", "make", "describe"]
    assert all(j.state == "succeeded" for j in jobs)
    assert 3 <= len(prompts) <= 4 and len(run) == len(prompts)
    for number, prompt in enumerate(prompts, start=1):
        assert f"{number}. {prompt[:30]}" in text_of(found)
    assert jobs[1].params["prompt"] == prompts[1]  # the job's second prompt, read back
    assert all(len(data.encode()) <= 64 for data in run)
    assert text_of(made).startswith("✅ make")
    assert jobs[0].cost is not None and jobs[0].cost > 0


async def test_another_users_run_button_is_refused_for_free(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(2802, "Alice"), fake.user(2803, "Bob")
    group = fake.group(-1002802, "Studio")
    async with run_bot(fake, make_settings) as bot:
        photo = fake.send_photo(alice, png(96, 96), chat=group)
        fake.send_text(alice, "/describe", chat=group, reply_to=photo["message"])
        found = await wait_message(fake, group, said("📝 describe"), timeout=30)
        pressed = fake.press(bob, found, buttons(found)["▶️ Run 1"])
        await fake.wait_for("answerCallbackQuery")
        bob_account = await bot.app.users.resolve(Identity("telegram", "2803"))
        bob_jobs = await bot.app.jobs.recent(bob_account.id, limit=5)
        bob_balance = await bot.app.ledger.balance(bob_account.id)
    answer = fake.callback_answer(pressed)
    assert answer is not None and "belong" in answer["text"]
    assert bob_jobs == [] and bob_balance.total == 1000


async def test_describe_without_an_image_says_how_for_free(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(2804)
    async with run_bot(fake, make_settings) as bot:
        fake.send_text(alice, "/describe")
        how = await wait_message(fake, alice, said("prompts for a picture"), timeout=30)
        account = await bot.app.users.resolve(Identity("telegram", "2804"))
        assert await bot.app.jobs.recent(account.id, limit=5) == []
    assert "reply to it" in text_of(how)


async def test_loras_lists_the_servers_loras_and_how_to_use_them(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(2805)
    async with run_bot(fake, make_settings) as bot:
        assert bot.app.server_loras is not None
        await bot.app.server_loras.set("preview-ink.safetensors", name="Ink",
                                       triggers=["inkwash"], price_factor=1.5)
        fake.send_text(alice, "/loras")
        listed = await wait_message(fake, alice, said("The server's LoRAs"), timeout=30)
        commands = fake.calls_of("setMyCommands")
    text = text_of(listed)
    assert "• Ink · <lora:Ink:0.8> · triggers: inkwash · price ×1.5" in text
    assert "preview-pixel" in text and "<lora:" in text
    assert {"describe", "loras"} <= {c["command"] for c in commands[0].params["commands"]}
