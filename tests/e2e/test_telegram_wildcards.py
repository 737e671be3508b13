"""Wildcard lists on Telegram through the fake Bot API: /wildcard NAME = a | b:3 saves one,
/wildcards lists it, ``__NAME__`` in a prompt draws from it, ``/wildcard NAME =`` removes it
(and a prompt naming it then is refused, free); only the group's admins save the group's
lists, which its members then draw from."""

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


def starts(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text_of(m).startswith(text)


async def test_save_list_use_and_remove_a_wildcard_list(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1711, "Alice")
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/wildcard Colours = teal | teal:3")
        saved = await wait_message(fake, alice, said("Saved."))
        fake.send_text(alice, "/wildcards")
        listed = await wait_message(fake, alice, said("Your wildcard lists"))
        fake.send_text(alice, "/wildcard colours")
        shown = await wait_message(fake, alice, starts("🃏 __colours__ — 2 items"))
        fake.send_text(alice, "/make a __colours__ fox --seed 5")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
        account = await bot.app.users.resolve(Identity("telegram", "1711"))
        [job] = await bot.app.jobs.recent(account.id, limit=5)
        fake.send_text(alice, "/wildcard colours =")
        removed = await wait_message(fake, alice, said("Removed"))
        fake.send_text(alice, "/make a __colours__ fox")
        refused = await wait_message(fake, alice, said("There is no wildcard list"))
        fake.send_text(alice, "/wildcard colours = ")
        again = await wait_message(fake, alice, said("No wildcard list named"))
        assert bot.app.styles is not None
        left = (await bot.app.styles.shelf(account)).lists
        balance = await bot.app.ledger.balance(account.id)
        jobs = await bot.app.jobs.recent(account.id, limit=5)
    assert "__colours__ — 2 items: teal | teal:3" in text_of(saved)
    assert "__colours__ — teal, teal" in text_of(listed)
    assert "/make a __colours__ fox" in text_of(shown)
    assert job.params["prompt"] == "a teal fox"
    assert job.params["_wildcards"] == [{"source": "__colours__", "value": "teal",
                                         "in": "prompt"}]
    assert text_of(removed) == "Removed the wildcard list __colours__."
    assert "__colours__" in text_of(refused) and len(jobs) == 1  # refused before a job
    assert text_of(again) == "No wildcard list named 'colours'"
    assert left == []
    assert balance.total == 1000 - int(job.cost or 0)


async def test_only_admins_save_the_groups_lists_and_members_draw_from_them(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    admin, member = fake.user(1712, "Ada"), fake.user(1713, "Max")
    group = fake.group(-1001712, "Studio")
    group.admins.add(admin.id)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(member, "/wildcard group beasts = owl | owl:2", chat=group)
        refused = await wait_message(fake, group, said("admins can change its wildcard"))
        fake.send_text(admin, "/wildcard group beasts = owl | owl:2", chat=group)
        saved = await wait_message(fake, group, said("Saved."))
        fake.send_text(member, "/make a __beasts__ at night", chat=group)
        await wait_message(fake, group, lambda m: from_bot(m) and "photo" in m)
        fake.send_text(member, "/wildcards", chat=group)
        listed = await wait_message(fake, group, said("The group's wildcard lists"))
        fake.send_text(member, "/wildcard group beasts =", chat=group)
        kept = await wait_message(fake, group, lambda m: said("admins can change its")(m)
                                  and m["message_id"] > refused["message_id"])
        account = await bot.app.users.resolve(Identity("telegram", "1713"))
        [job] = await bot.app.jobs.recent(account.id, limit=5)
        group_account = await bot.app.users.resolve(Identity("telegram", str(group.id)),
                                                    kind="group")
        assert bot.app.styles is not None
        group_lists = (await bot.app.styles.shelf(account, group_account)).group_lists
    assert text_of(refused) == "Only the group's admins can change its wildcard lists."
    assert "__beasts__ (the group) — 2 items: owl | owl:2" in text_of(saved)
    assert job.params["prompt"] == "a owl at night"
    assert "__beasts__ — owl, owl" in text_of(listed)
    assert text_of(kept) == text_of(refused)
    assert [w.name for w in group_lists] == ["beasts"]  # the member could not remove it
