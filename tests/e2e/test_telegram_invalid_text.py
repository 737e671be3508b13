"""A Telegram update whose text is not valid Unicode (a lone surrogate, delivered as a JSON
``"\\ud800"`` escape the way the Bot API would send it) is refused with a short answer and
stores nothing: no job, no charge, no account with a broken name; the user can go on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.text import is_valid_text
from stationthis.core.users import Identity
from stationthis.platforms.telegram.handlers import INVALID_TEXT
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, run_bot, text_of, wait_message
from tests.support.scripted import ScriptedEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def bot_replies(fake: FakeTelegram, chat: object) -> list[str]:
    return [text_of(m) for m in fake.messages_in(chat) if from_bot(m)]  # type: ignore[arg-type]


async def nth_reply(fake: FakeTelegram, chat: object, n: int) -> str:
    await wait_message(fake, chat, lambda m: len(bot_replies(fake, chat)) >= n)  # type: ignore[arg-type]
    return bot_replies(fake, chat)[n - 1]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_prompt_with_a_lone_surrogate_is_refused_and_nothing_is_made(
    fake: FakeTelegram, make_settings: Callable[..., Settings], mode: str
) -> None:
    alice = fake.user(1601)
    async with run_bot(fake, make_settings, mode=mode, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a fox \ud800 in the snow")
        refusal = await nth_reply(fake, alice, 1)
        fake.send_text(alice, "/balance")
        balance_text = await nth_reply(fake, alice, 2)
        account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        jobs = await bot.app.jobs.recent(account.id, limit=5)
        balance = await bot.app.ledger.balance(account.id)
    assert refusal == INVALID_TEXT and "valid Unicode" in refusal
    assert "1000" in balance_text.replace(",", "")  # the next command works as ever
    assert jobs == [] and balance.total == 1000


async def test_a_name_with_a_lone_surrogate_stores_no_account(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    eve = fake.user(1602, first_name="Ev\udc80e")
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(eve, "/make a fox")
        refusal = await nth_reply(fake, eve, 1)
        account = await bot.app.users.resolve(Identity("telegram", str(eve.id)), "Eve")
        jobs = await bot.app.jobs.recent(account.id, limit=5)
    assert refusal == INVALID_TEXT
    assert is_valid_text(account.name) and jobs == []


async def test_in_a_group_only_messages_for_the_bot_get_the_refusal(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1603)
    group = fake.group(-1603, "Friends")
    async with run_bot(fake, make_settings, engine=ScriptedEngine()):
        fake.send_text(alice, "just chatting \ud800", chat=group)
        fake.send_text(alice, "/make \ud800", chat=group)
        refusal = await nth_reply(fake, group, 1)
        fake.send_text(alice, "/help", chat=group)
        await nth_reply(fake, group, 2)
    assert refusal == INVALID_TEXT
    assert sum(r == INVALID_TEXT for r in bot_replies(fake, group)) == 1
