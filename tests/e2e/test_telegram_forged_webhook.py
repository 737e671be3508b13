"""With STATIONTHIS_SECRET_KEY unset, the Telegram webhook's secret token is not one anybody
can compute: an update signed with the old public default key ("dev-insecure-change-me"),
such as `/link CODE` sent in a victim's name, is refused, and no account is touched."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.platforms.telegram.app import SECRET_HEADER, WEBHOOK_PATH, webhook_secret
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import run_bot
from tests.support.scripted import ScriptedEngine

FORGED = hmac.new(b"dev-insecure-change-me", b"telegram-webhook", hashlib.sha256).hexdigest()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_an_update_signed_with_the_old_default_key_is_refused(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    victim = fake.user(1901, "Victim")
    async with run_bot(fake, make_settings, mode="webhook", engine=ScriptedEngine()) as bot:
        [hook] = fake.calls_of("setWebhook")
        attacker = await bot.app.users.resolve(Identity("web", "mallory"))
        code = await bot.app.account.link_code(attacker)
        update = {"update_id": 77, "message": {
            "message_id": 1, "date": 0, "chat": {"id": victim.id, "type": "private"},
            "from": {"id": victim.id, "is_bot": False, "first_name": "Victim"},
            "text": f"/link {code}",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
        assert bot.url is not None
        async with httpx.AsyncClient(base_url=bot.url) as client:
            forged = await client.post(WEBHOOK_PATH, json=update,
                                       headers={SECRET_HEADER: FORGED})
        identities = await bot.app.users.identities_of(attacker.id)
        registered = webhook_secret(bot.settings)
    assert forged.status_code in (401, 403), forged.text
    assert bot.settings.secret_key is None  # STATIONTHIS_SECRET_KEY is unset
    assert registered != FORGED and hook.params["secret_token"] == registered
    assert [str(i) for i in identities] == ["web:mallory"]  # the victim was never joined
