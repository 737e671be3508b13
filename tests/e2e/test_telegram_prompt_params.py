"""Parameters written in a Telegram prompt (`/make a red fox —ar 16:9 --seed 5 --no text`,
the em dash a phone keyboard makes of "--" included) reach the job through the fake Bot API;
one beyond the tier is answered with the same line as anywhere else and nothing is held."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, run_bot, text_of, wait_message
from tests.support.scripted import ScriptedEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_parameters_in_a_telegram_prompt_make_the_job_they_say(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1101, "Alice")
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a red fox —ar 16:9 --seed 5 --no text")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
        fake.send_text(alice, "/make a fox --steps 60")
        refused = await wait_message(
            fake, alice, lambda m: from_bot(m) and "steps must be" in text_of(m).lower())
        account = await bot.app.users.resolve(Identity("telegram", "1101"))
        jobs = await bot.app.jobs.recent(account.id, limit=5)
        balance = await bot.app.ledger.balance(account.id)
    [job] = jobs  # the refused one made no job
    assert job.params["prompt"] == "a red fox"
    assert (job.params["width"], job.params["height"]) == (680, 384)
    assert (job.params["seed"], job.params["negative"]) == (5, "text")
    assert text_of(refused) == "Steps must be between 1 and 48 on the free tier (got 60)"
    assert balance.total == 1000 - int(job.cost or 0)
