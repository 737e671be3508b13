"""A cook run's progress reaches the Telegram notifier as its own event (``CookProgressed``):
the run's status message is edited to "n/total" with the run's buttons, at the fake Bot API,
with no job behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.events import CookProgressed
from stationthis.core.replies import DiscordReply, TelegramReply
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, run_bot, text_of, wait_message


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_cook_progressed_edits_the_runs_status_message(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(4242)
    async with run_bot(fake, make_settings, telegram_rate_burst=100) as bot:
        fake.send_text(alice, "/collection new critters")
        created = await wait_message(fake, alice, lambda m: from_bot(m)
                                     and "created" in text_of(m))
        me = await bot.app.users.resolve(Identity("telegram", str(alice.id)))
        (collection,) = await bot.app.collections.mine(me)
        reply = TelegramReply(chat=alice.id, message=created["message_id"])
        await bot.app.bus.publish(CookProgressed(
            run_id="run-1", collection_id=collection.id, owner_id=me.id, reply=reply,
            state="running", done=2, failed=1, total=5))
        await fake.wait_for("editMessageText")
        # another platform's run is not Telegram's to edit
        await bot.app.bus.publish(CookProgressed(
            run_id="run-2", collection_id=collection.id, owner_id=me.id,
            reply=DiscordReply(token="t"), state="running", done=3, failed=0,
            total=5))
    (edit,) = fake.calls_of("editMessageText")
    assert edit.params["message_id"] == created["message_id"]
    assert edit.params["text"] == "🍳 critters: cooking 2/5 · 1 failed"
    assert "⏸ Pause" in str(edit.params.get("reply_markup"))
