"""A Telegram user's /make through the fake Bot API to the delivered photo, its buttons and
the ledger rows — in long polling and in webhook mode (inside the web app)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.replies import TelegramReply
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import Script, ScriptedEngine

MODES = ["polling", "webhook"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def photo(message: dict) -> bool:  # type: ignore[type-arg]
    return from_bot(message) and "photo" in message


@pytest.mark.parametrize("mode", MODES)
async def test_make_delivers_a_photo_with_buttons_and_charges_the_ledger(
    fake: FakeTelegram, make_settings: Callable[..., Settings], mode: str
) -> None:
    engine = ScriptedEngine(Script(steps=8, delay=0.1))
    alice = fake.user(1001, "Alice", "alice")
    async with run_bot(fake, make_settings, mode=mode, engine=engine) as bot:
        sent = fake.send_text(alice, "/make a red fox in the snow")
        delivered = await wait_message(fake, alice, photo)
        account = await bot.app.users.resolve(Identity("telegram", "1001"))
        [job] = await bot.app.jobs.recent(account.id, limit=5)
        history = await bot.app.ledger.history(account.id)
        balance = await bot.app.ledger.balance(account.id)

    assert job.state == "succeeded" and job.params["prompt"] == "a red fox in the snow"
    assert isinstance(job.reply, TelegramReply) and job.reply.chat == alice.id
    assert delivered["reply_to_message"]["message_id"] == sent["message"]["message_id"]
    assert text_of(delivered).startswith("✅ make") and f"{job.cost} points" in text_of(delivered)
    keys = buttons(delivered)
    assert {"🔄 Regenerate", "⬆️ Upscale", "🎲 Variations", "📁 Add to dataset"} <= set(keys)
    assert all(len(data.encode()) <= 64 for data in keys.values())
    # the status message was edited with progress, then replaced by the photo
    edits = [c for c in fake.calls_of("editMessageText") if c.ok]
    assert any("%" in c.params["text"] for c in edits)
    status_id = job.reply.message
    assert all(m["message_id"] != status_id for m in fake.messages_in(alice))
    rows = [(e.kind, e.ref) for e in reversed(history)]
    assert ("hold", job.ref) in rows and ("capture", job.ref) in rows
    assert balance.total == 1000 - int(job.cost or 0) and job.cost == job.quote
    assert fake.photo_bytes(delivered)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("mode", MODES)
async def test_failed_job_says_so_and_releases_the_points(
    fake: FakeTelegram, make_settings: Callable[..., Settings], mode: str
) -> None:
    engine = ScriptedEngine()
    engine.script(Script(fail="out of GPU memory"))
    alice = fake.user(1002)
    async with run_bot(fake, make_settings, mode=mode, engine=engine) as bot:
        fake.send_text(alice, "/make a castle")
        failed = await wait_message(fake, alice, lambda m: from_bot(m) and "failed" in text_of(m))
        account = await bot.app.users.resolve(Identity("telegram", "1002"))
        balance = await bot.app.ledger.balance(account.id)
    assert "out of GPU memory" in failed["text"]
    assert "points were released" in failed["text"] and "nothing was charged" in failed["text"]
    assert balance.total == 1000
    assert not any("photo" in m for m in fake.messages_in(alice))
