"""Styles on Telegram through the fake Bot API: /style saves one (template, --no, defaults),
/styles lists it, `--style noir` in a prompt makes the job it says with its wildcards drawn;
an unknown style is answered with the names there are and costs nothing; only the group's
admins save the group's styles, which its members then use."""

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


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


async def test_save_list_and_use_a_style_in_a_private_chat(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1701, "Alice")
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/style noir = film noir photo of {prompt}, grainy "
                              "--no colour --steps 12 --ar 16:9")
        saved = await wait_message(fake, alice, said("Saved."))
        fake.send_text(alice, "/styles")
        listed = await wait_message(fake, alice, said("Your styles"))
        fake.send_text(alice, "/make a {fox|fox} at dusk --style noor")
        refused = await wait_message(fake, alice, said("here is no style"))
        fake.send_text(alice, "/make a {fox|fox} at dusk --style noir --seed 4")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
        account = await bot.app.users.resolve(Identity("telegram", "1701"))
        [job] = await bot.app.jobs.recent(account.id, limit=5)
        balance = await bot.app.ledger.balance(account.id)
    assert "noir: film noir photo of {prompt}, grainy" in text_of(saved)
    assert "steps 12 · ar 16:9" in text_of(saved)
    assert "noir — film noir photo of {prompt}, grainy" in text_of(listed)
    assert "There is no style 'noor' (your styles: noir)" in text_of(refused)
    assert job.params["prompt"] == "film noir photo of a fox at dusk, grainy"
    assert (job.params["negative"], job.params["steps"]) == ("colour", 12)
    assert (job.params["width"], job.params["height"]) == (680, 384)
    assert job.params["_wildcards"] == [{"source": "{fox|fox}", "value": "fox",
                                         "in": "prompt"}]
    assert balance.total == 1000 - int(job.cost or 0)  # the refused one cost nothing


async def test_only_admins_save_the_groups_styles_and_members_use_them(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    admin, member = fake.user(1702, "Ada"), fake.user(1703, "Max")
    group = fake.group(-1001702, "Studio")
    group.admins.add(admin.id)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(member, "/style group pastel = soft pastel, {prompt}", chat=group)
        refused = await wait_message(fake, group, said("admins can change its styles"))
        fake.send_text(admin, "/style group pastel = soft pastel, {prompt}", chat=group)
        await wait_message(fake, group, said("Saved."))
        fake.send_text(member, "/make an owl --style pastel", chat=group)
        await wait_message(fake, group, lambda m: from_bot(m) and "photo" in m)
        fake.send_text(member, "/styles", chat=group)
        listed = await wait_message(fake, group, said("The group's styles"))
        account = await bot.app.users.resolve(Identity("telegram", "1703"))
        [job] = await bot.app.jobs.recent(account.id, limit=5)
    assert text_of(refused) == "Only the group's admins can change its styles."
    assert job.params["prompt"] == "soft pastel, an owl"
    assert "pastel — soft pastel, {prompt}" in text_of(listed)
