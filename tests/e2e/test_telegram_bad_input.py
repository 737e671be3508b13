"""Bad input gets a clear, short answer and loses nothing: unknown commands, replies to
nothing, stickers and files that are not images, huge images, floods of commands; and the
webhook refuses calls without the secret token."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.platforms.telegram.app import SECRET_HEADER, WEBHOOK_PATH, webhook_secret
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, run_bot, text_of, wait_message
from tests.support.scripted import ScriptedEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 64).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def bot_replies(fake: FakeTelegram, chat: object) -> list[str]:
    return [text_of(m) for m in fake.messages_in(chat) if from_bot(m)]  # type: ignore[arg-type]


async def nth_reply(fake: FakeTelegram, chat: object, n: int) -> str:
    await wait_message(fake, chat, lambda m: len(bot_replies(fake, chat)) >= n)  # type: ignore[arg-type]
    return bot_replies(fake, chat)[n - 1]


async def test_each_bad_input_gets_a_short_answer_and_costs_nothing(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1501)
    async with run_bot(fake, make_settings, engine=ScriptedEngine(),
                       max_upload_bytes=20_000, max_image_pixels=200 * 200,
                       telegram_rate_burst=50) as bot:
        answers = []
        fake.send_text(alice, "/frobnicate")
        answers.append(await nth_reply(fake, alice, 1))
        fake.send_text(alice, "/upscale")
        answers.append(await nth_reply(fake, alice, 2))
        fake.send_sticker(alice)
        answers.append(await nth_reply(fake, alice, 3))
        sticker = fake.send_sticker(alice)
        await nth_reply(fake, alice, 4)
        fake.send_text(alice, "/upscale", reply_to=sticker["message"])
        answers.append(await nth_reply(fake, alice, 5))
        doc = fake.send_document(alice, b"%PDF-1.4 not an image", "notes.pdf", "application/pdf")
        answers.append(await nth_reply(fake, alice, 6))
        fake.send_text(alice, "/rmbg", reply_to=doc["message"])
        answers.append(await nth_reply(fake, alice, 7))
        big = fake.send_document(alice, png(300, 300), "big.png", "image/png")
        await nth_reply(fake, alice, 8)  # "Got it…"
        fake.send_text(alice, "/upscale", reply_to=big["message"])
        answers.append(await nth_reply(fake, alice, 9))
        wide = fake.send_photo(alice, png(260, 250))
        await nth_reply(fake, alice, 10)
        fake.send_text(alice, "/upscale", reply_to=wide["message"])
        answers.append(await nth_reply(fake, alice, 11))
        fake.send_text(alice, "/effect")
        answers.append(await nth_reply(fake, alice, 12))
        fake.send_text(alice, "/make")
        answers.append(await nth_reply(fake, alice, 13))
        account = await bot.app.users.resolve(Identity("telegram", "1501"))
        jobs = await bot.app.jobs.recent(account.id, limit=5)
        balance = await bot.app.ledger.balance(account.id)
    unknown, no_reply, sticker_dm, sticker_reply, pdf, pdf_reply, too_big, too_many_px, \
        no_prompt_effect, no_prompt = answers
    assert "I don't know /frobnicate" in unknown
    assert "Reply to a photo with /upscale" in no_reply
    assert "sticker" in sticker_dm.lower() and "Stickers can't be used" in sticker_reply
    assert "not an image" in pdf and "application/pdf" in pdf_reply
    assert "too large" in too_big and "limit" in too_big
    assert "pixels" in too_many_px.lower() or "too large" in too_many_px.lower()
    assert "/effect watercolor" in no_prompt_effect and "What should I make" in no_prompt
    assert all(len(a) < 300 for a in answers)
    assert jobs == [] and balance.total == 1000


async def test_a_flood_of_commands_is_answered_once_and_dropped(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(1502), fake.user(1503)
    async with run_bot(fake, make_settings, engine=ScriptedEngine(), telegram_flood_burst=3,
                       telegram_rate_per_minute=1):
        for _ in range(8):
            fake.send_text(alice, "/help")
        fake.send_text(bob, "/help")
        await wait_message(fake, bob, lambda m: from_bot(m))
        await wait_message(fake, alice, lambda m: len(bot_replies(fake, alice)) >= 4)
        await fake.wait_for("getUpdates", 3)  # the rest was read and dropped
    replies = bot_replies(fake, alice)
    assert sum("StationThis makes images" in r for r in replies) == 3
    assert sum("Slow down" in r for r in replies) == 1


async def test_webhook_refuses_a_missing_or_wrong_secret_token(
    fake: FakeTelegram, make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = fake.user(1504)
    async with run_bot(fake, make_settings, mode="webhook", engine=ScriptedEngine()) as bot:
        [hook] = fake.calls_of("setWebhook")
        assert bot.url is not None
        update = {"update_id": 99, "message": {
            "message_id": 1, "date": 0, "chat": {"id": alice.id, "type": "private"},
            "from": {"id": alice.id, "is_bot": False, "first_name": "Eve"},
            "text": "/make forged", "entities": [{"type": "bot_command", "offset": 0,
                                                  "length": 5}]}}
        async with httpx.AsyncClient(base_url=bot.url) as client:
            missing = await client.post(WEBHOOK_PATH, json=update)
            wrong = await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: "x"})
        fake.send_text(alice, "/make a real one")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
        account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        jobs = await bot.app.jobs.recent(account.id, limit=5)
        secret = webhook_secret(bot.settings)
    assert hook.params["secret_token"] == secret
    assert hook.params["url"] == f"{bot.url}{WEBHOOK_PATH}"
    assert (missing.status_code, wrong.status_code) == (401, 403)
    assert [j.params["prompt"] for j in jobs] == ["a real one"]
    assert fake.token not in caplog.text
    assert fake.token.split(":")[1] not in caplog.text


async def test_plain_text_gets_a_hint_and_an_edited_command_does_not_run_again(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1505)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "a red fox")
        hint = await nth_reply(fake, alice, 1)
        sent = fake.send_text(alice, "/make a cat")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
        fake.edit_text(alice, sent["message"], "/make a dog")
        fake.send_text(alice, "/help")
        await wait_message(fake, alice, lambda m: "StationThis makes images" in text_of(m))
        account = await bot.app.users.resolve(Identity("telegram", "1505"))
        jobs = await bot.app.jobs.recent(account.id, limit=5)
    assert "/make a red fox in the snow" in hint
    assert [j.params["prompt"] for j in jobs] == ["a cat"]
