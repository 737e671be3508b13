"""/start, /help, /settings (text and buttons), /balance, /history, /status, /cancel, /link."""

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


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


async def test_start_help_balance_and_history(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1201)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()):
        fake.send_text(alice, "/start")
        welcome = await wait_message(fake, alice, said("Welcome"))
        fake.send_text(alice, "/balance")
        balance = await wait_message(fake, alice, said("💰"))
        fake.send_text(alice, "/make a quiet harbour")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
        fake.send_text(alice, "/history")
        history = await wait_message(fake, alice, said("Your last jobs"))
        fake.send_text(alice, "/balance")
        await wait_message(fake, alice, lambda m: from_bot(m) and "💰" in text_of(m)
                           and "1000 points" not in text_of(m))
    assert "/make" in welcome["text"] and "/train" in welcome["text"]
    assert "1000 points" in balance["text"] and "allowance is full" in balance["text"]
    assert "A typical image (make, 512×512" in balance["text"]
    assert "'a quiet harbour'" in history["text"] and "pts" in history["text"]
    commands = fake.calls_of("setMyCommands")[0].params["commands"]
    assert "make" in [c["command"] for c in commands]


async def test_settings_by_text_and_by_button_with_the_limits_shown(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1202)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        fake.send_text(alice, "/settings")
        menu = await wait_message(fake, alice, said("⚙️"))
        fake.send_text(alice, "/settings steps 30")
        await wait_message(fake, alice, said("steps: 30"))
        fake.send_text(alice, "/settings steps 500")
        refused = await wait_message(fake, alice, lambda m: from_bot(m) and "500" in text_of(m))
        fake.press(alice, menu, buttons(menu)["768×768"])
        await wait_message(fake, alice, lambda m: m["message_id"] == menu["message_id"]
                           and "width: 768" in text_of(m))
        account = await bot.app.users.resolve(Identity("telegram", "1202"))
        view = await bot.app.user_settings.show(account)
    assert "steps: 20 (max 48)" in menu["text"]
    assert "⚙️" not in refused["text"]  # a refusal, not the menu
    assert view["steps"].value == 30 and view["width"].value == 768


async def test_status_and_cancel_release_the_points(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    engine = ScriptedEngine(Script(hang=True))
    alice = fake.user(1203)
    async with run_bot(fake, make_settings, engine=engine) as bot:
        fake.send_text(alice, "/make a slow painting")
        await wait_message(fake, alice, said("working"))
        fake.send_text(alice, "/status")
        status = await wait_message(fake, alice, said("Your jobs"))
        fake.press(alice, status, buttons(status)["✖️ Cancel 1"])
        await wait_message(fake, alice, said("cancelled"))
        account = await bot.app.users.resolve(Identity("telegram", "1203"))
        balance = await bot.app.ledger.balance(account.id)
        fake.send_text(alice, "/cancel")
        nothing = await wait_message(fake, alice, said("Nothing to cancel"))
    assert "1. make · running" in status["text"]
    assert balance.total == 1000
    assert nothing


async def test_link_joins_telegram_with_the_web_account(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1204)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()) as bot:
        web = await bot.app.users.resolve(Identity("web", "alice"))
        code = await bot.app.account.link_code(web)
        fake.send_text(alice, f"/link {code}")
        linked = await wait_message(fake, alice, said("Linked"))
        fake.send_text(alice, "/link")
        shown = await wait_message(fake, alice, said("Your link code"))
        fake.send_text(alice, "/link NOTACODE")
        bad = await wait_message(fake, alice, lambda m: from_bot(m) and m["message_id"] >
                                 shown["message_id"])
        tg = await bot.app.users.resolve(Identity("telegram", "1204"))
        identities = {str(i) for i in await bot.app.account.identities(tg)}
    assert "web:alice" in linked["text"] and "telegram:1204" in linked["text"]
    assert {"web:alice", "telegram:1204"} <= identities
    assert "Linked" not in bad["text"]


async def test_the_status_message_shows_the_place_in_the_queue(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(1205), fake.user(1206)
    async with run_bot(fake, make_settings, engine=ScriptedEngine(Script(hang=True)),
                       max_running=1) as bot:
        fake.send_text(alice, "/make the one that runs")
        await wait_message(fake, alice, said("working"))
        fake.send_text(bob, "/make second")
        bobs = await wait_message(fake, bob, said("#1 in the queue"))
        fake.send_text(alice, "/make third")
        alices = await wait_message(fake, alice, said("#2 in the queue"))
        fake.send_text(bob, "/cancel")
        await wait_message(fake, bob, said("Cancelled 1 job"))
        fake.send_text(alice, "/cancel all")
        await wait_message(fake, alice, said("Cancelled 2 jobs"))
        account = await bot.app.users.resolve(Identity("telegram", "1205"))
        for job in await bot.app.jobs.recent(account.id, limit=5):
            await bot.app.jobs.wait(job.id, timeout=5)
        balance = await bot.app.ledger.balance(account.id)
    assert "points held" in bobs["text"] and "points held" in alices["text"]
    assert balance.total == 1000
