"""Groups: commands with and without @botname, a plain prompt with the trigger, group settings
by admins only (asked from Telegram), and the group's points pool with who pays."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import ScriptedEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


def photos(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m]  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_commands_with_and_without_the_bot_name_and_the_trigger(
    fake: FakeTelegram, make_settings: Callable[..., Settings], mode: str
) -> None:
    alice = fake.user(1401)
    group = fake.group(-1001401, "Studio")
    group.admins.add(fake.bot["id"])  # an admin bot reads every message (for the trigger)
    async with run_bot(fake, make_settings, mode=mode, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/make@stationthis_test_bot a harbour", chat=group)
        await wait_message(fake, group, lambda m: len(photos(fake, group)) >= 1)
        fake.send_text(alice, "/make a meadow", chat=group)
        await wait_message(fake, group, lambda m: len(photos(fake, group)) >= 2)
        fake.send_text(alice, "@stationthis_test_bot a lonely tree", chat=group)
        await wait_message(fake, group, lambda m: len(photos(fake, group)) >= 3)
        fake.send_text(alice, "/make@some_other_bot not for us", chat=group)
        fake.send_text(alice, "just chatting", chat=group)
        fake.send_text(alice, "/help", chat=group)
        await wait_message(fake, group, said("StationThis makes images"))
        account = await bot.app.users.resolve(Identity("telegram", "1401"))
        jobs = await bot.app.jobs.recent(account.id, limit=10)
        chat = await bot.app.users.resolve(Identity("telegram", str(group.id)), kind="group")
    assert sorted(j.params["prompt"] for j in jobs) == ["a harbour", "a lonely tree", "a meadow"]
    assert all(j.group_id == chat.id for j in jobs)
    assert chat.kind == "group" and chat.name == "Studio"
    assert not any("I don't know" in text_of(m) for m in fake.messages_in(group))


async def test_group_settings_by_admins_only_and_the_group_pool_pays(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    admin, member = fake.user(1402, "Ada"), fake.user(1403, "Bob")
    group = fake.group(-1001402, "Painters")
    group.admins.add(admin.id)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(member, "/settings steps 30", chat=group)
        refused = await wait_message(fake, group, said("Only the group's admins"))
        fake.send_text(member, "/settings pay group", chat=group)
        await wait_message(fake, group, lambda m: len([x for x in fake.messages_in(group)
                                                       if "Only the group's admins"
                                                       in text_of(x)]) == 2)
        fake.send_text(admin, "/settings steps 30", chat=group)
        await wait_message(fake, group, said("steps: 30 (max 48) (group)"))
        chat = await bot.app.users.resolve(Identity("telegram", str(group.id)), kind="group")
        await bot.app.account.grant(chat, 500, key="test-grant")
        fake.send_text(admin, "/settings pay group", chat=group)
        await wait_message(fake, group, said("the group pays (pool) · pool 500 points"))
        fake.send_text(member, "/make a group portrait", chat=group)
        await wait_message(fake, group, lambda m: len(photos(fake, group)) >= 1)
        bob = await bot.app.users.resolve(Identity("telegram", "1403"))
        [job] = await bot.app.jobs.recent(bob.id, limit=5)
        pool = await bot.app.ledger.balance(chat.id)
        mine = await bot.app.ledger.balance(bob.id)
    assert refused
    assert job.params["steps"] == 30  # the group's default
    assert job.payer_id == chat.id and pool.total == 500 - int(job.cost or 0)
    assert mine.total == 1000


async def test_group_menu_buttons_are_for_admins_only(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    admin, member = fake.user(1404, "Ada"), fake.user(1405, "Bob")
    group = fake.group(-1001404, "Sketchers")
    group.owner_id = admin.id
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(member, "/settings", chat=group)
        menu = await wait_message(fake, group, said("👥 Sketchers"))
        press = fake.press(member, menu, buttons(menu)["👥 group pays"])
        await fake.wait_for("answerCallbackQuery")
        chat = await bot.app.users.resolve(Identity("telegram", str(group.id)), kind="group")
        before = await bot.app.groups.view(chat)
        fake.press(admin, menu, buttons(menu)["members first, then the group"])
        edited = await wait_message(fake, group, lambda m: m["message_id"] == menu["message_id"]
                                    and "members first" in text_of(m))
        after = await bot.app.groups.view(chat)
    answer = fake.callback_answer(press)
    assert answer is not None and "Only the group's admins" in answer["text"]
    assert before.payer == "user" and after.payer == "user_first"
    assert "each member pays" in menu["text"] and edited
