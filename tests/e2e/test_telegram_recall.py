"""/regen, /seed and /card on Telegram, through the fake Bot API: on the last job, on
``/seed 2``, on a replied-to result; a clear answer with no job yet; someone else's result
is never reached; a /regen the balance cannot pay says by how much."""

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


def replies(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m)]  # type: ignore[arg-type]


async def ask(fake: FakeTelegram, user: object, text: str, reply_to: dict | None = None,  # type: ignore[type-arg]
              chat: object = None) -> str:
    """Send ``text`` and return the bot's first message after it (its text)."""
    sent = fake.send_text(user, text, chat=chat, reply_to=reply_to)  # type: ignore[arg-type]
    mine = sent["message"]["message_id"]
    answer = await wait_message(fake, chat or user,  # type: ignore[arg-type]
                                lambda m: from_bot(m) and m["message_id"] > mine)
    return text_of(answer)


async def photo(fake: FakeTelegram, user: object, count: int) -> dict:  # type: ignore[type-arg]
    await wait_message(fake, user, lambda m: sum(  # type: ignore[arg-type]
        "photo" in r for r in replies(fake, user)) >= count, timeout=20)
    return [r for r in replies(fake, user) if "photo" in r][count - 1]


async def test_with_no_job_yet_each_says_so(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1801)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        answers = [await ask(fake, alice, c) for c in ("/regen", "/seed", "/card")]
        account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        jobs = await bot.app.jobs.recent(account.id)
    assert all("You have no images yet" in a and "/make" in a for a in answers), answers
    assert jobs == []


async def test_seed_card_and_regen_of_the_last_job_and_of_a_reply(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1802)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a red fox")
        first = await photo(fake, alice, 1)
        fake.send_text(alice, "/make a blue owl")
        await photo(fake, alice, 2)
        account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        owl, fox = await bot.app.jobs.recent(account.id, limit=2)
        seed_last = await ask(fake, alice, "/seed")
        seed_before = await ask(fake, alice, "/seed 2")
        seed_reply = await ask(fake, alice, "/seed", reply_to=first)
        card = await ask(fake, alice, "/card", reply_to=first)
        status = await ask(fake, alice, "/regen", reply_to=first)
        await photo(fake, alice, 3)
        again = (await bot.app.jobs.recent(account.id, limit=1))[0]
        too_far = await ask(fake, alice, "/seed 9")
    assert f"Seed {owl.params['seed']}" in seed_last and "blue owl" in seed_last
    assert f"Seed {fox.params['seed']}" in seed_before
    assert f"Seed {fox.params['seed']}" in seed_reply
    assert "reproducibility card" in card and f"seed:   {fox.params['seed']}" in card
    assert "'a red fox'" in card or '"a red fox"' in card
    assert "points held" in status
    assert again.parent_id == fox.id and again.origin == "regenerate"
    assert again.params["prompt"] == "a red fox" and again.state == "succeeded"
    assert "You have 3 image jobs so far" in too_far


async def test_another_users_result_cannot_be_reached(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(1803, "Alice"), fake.user(1804, "Bob")
    group = fake.group(-1803, "studio")
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a secret garden", chat=group)
        await wait_message(fake, group, lambda m: from_bot(m) and "photo" in m, timeout=20)
        result = next(m for m in fake.messages_in(group) if from_bot(m) and "photo" in m)
        answers = [await ask(fake, bob, command, reply_to=result, chat=group)
                   for command in ("/seed", "/card", "/regen")]
        bob_account = await bot.app.users.resolve(Identity("telegram", str(bob.id)))
        alice_account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        [job] = await bot.app.jobs.recent(alice_account.id)
        bobs = await bot.app.jobs.recent(bob_account.id)
    assert all("someone else's" in a for a in answers), answers
    assert not any(str(job.params["seed"]) in a or "secret garden" in a for a in answers)
    assert bobs == []


async def test_a_regen_the_balance_cannot_pay_says_by_how_much(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1805)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make a small boat")
        await photo(fake, alice, 1)
        account = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        [job] = await bot.app.jobs.recent(account.id)
        balance = await bot.app.ledger.balance(account.id)
        keep = int(job.quote) - 3  # three points too few for the same image again
        async with bot.app.db.write() as conn:  # as if other jobs held the rest
            await bot.app.ledger.hold(conn, account.id, balance.total - keep, ref="test:other")
        answer = await ask(fake, alice, "/regen")
        jobs = await bot.app.jobs.recent(account.id)
    assert f"That costs {job.quote} points; {keep} are available (3 short)" in answer
    assert "Nothing was charged" in answer and len(jobs) == 1
