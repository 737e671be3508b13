"""A normal Telegram session causes no Bot API error: pressing a settings button for the value
already set does not send an edit Telegram refuses as "message is not modified"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stationthis.config import Settings
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import ScriptedEngine


def said(fragment: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and fragment in text_of(m)


async def test_pressing_the_current_value_again_sends_no_refused_edit(
    make_settings: Callable[..., Settings],
) -> None:
    async with FakeTelegram() as fake:
        alice = fake.user(1301)
        async with run_bot(fake, make_settings, engine=ScriptedEngine()):
            fake.send_text(alice, "/settings")
            menu = await wait_message(fake, alice, said("⚙️"))
            fake.press(alice, menu, buttons(menu)["768×768"])
            await wait_message(fake, alice, lambda m: m["message_id"] == menu["message_id"]
                               and "width: 768" in text_of(m))
            answered = len(fake.calls_of("answerCallbackQuery"))
            fake.press(alice, menu, buttons(menu)["768×768"])  # the same value again
            for _ in range(100):  # the press is answered (the spinner stops)
                if len(fake.calls_of("answerCallbackQuery")) > answered:
                    break
                await asyncio.sleep(0.05)
            assert len(fake.calls_of("answerCallbackQuery")) > answered
        # (499: the long poll that was open when the bot stopped: no answer was refused)
        refused = [c for c in fake.calls if not c.ok and c.status != 499]
        assert refused == [], [(c.name, c.error) for c in refused]
        assert len([c for c in fake.calls_of("editMessageText") if c.ok]) == 1
