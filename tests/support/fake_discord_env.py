"""Everything a Discord end-to-end test needs: the fake Discord REST server, our web app with
the Discord platform hosted in it (real lifespan, real HTTP to the fake), and a signed
interaction poster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Account, Identity
from stationthis.platforms.discord.app import DiscordPlatform
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App
from tests.support.fake_discord import FakeDiscord, Message
from tests.support.fake_discord_users import Discord, Member, Signer, eventually

APP_ID = "900000000000000001"
BOT_TOKEN = "bot-token-very-secret-1234"
DONE_MARKS = ("✅", "❌", "✖️")


@dataclass
class Env:
    app: App
    fake: FakeDiscord
    discord: Discord
    platform: DiscordPlatform
    signer: Signer

    async def account(self, member: Member) -> Account:
        return await self.app.users.resolve(Identity("discord", member.id))

    async def settled(self) -> None:
        """Every deferred response has been completed."""
        await self.platform.idle()

    async def original(self, token: str, what: str = "the original response") -> Message:
        await self.settled()
        found = await eventually(lambda: self.fake.original(token), what=what)
        assert isinstance(found, Message)
        return found

    async def finished(self, token: str, timeout: float = 15.0) -> Message:
        """The original response once the job's result (or error) replaced it."""
        await self.settled()

        def done() -> Message | None:
            found = self.fake.original(token)
            return found if found and found.content.startswith(DONE_MARKS) else None

        message = await eventually(done, timeout, what=f"the job result at {token}")
        assert isinstance(message, Message)
        return message


@asynccontextmanager
async def discord_env(make_settings: Callable[..., Settings], engine: Any = None,
                      signer: Signer | None = None, **overrides: Any) -> AsyncIterator[Env]:
    """``signer``: the application's key (pass the same one to restart the same bot)."""
    overrides.setdefault("discord_rate_burst", 100)  # tests send many commands quickly
    fake = FakeDiscord(APP_ID, BOT_TOKEN)
    await fake.start()
    signer = signer or Signer()
    settings = make_settings(
        discord_application_id=APP_ID, discord_public_key=signer.public_hex,
        discord_bot_token=BOT_TOKEN, discord_api_url=fake.base_url,
        discord_edit_interval=0.0, **overrides,
    )
    app = build(settings, engine=engine) if engine is not None else build(settings)
    platform = DiscordPlatform(app)
    web = create_app(app, hosted=[platform])
    try:
        async with web.router.lifespan_context(web):
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://ours") as client:
                yield Env(app, fake, Discord(client, signer, APP_ID), platform, signer)
    finally:
        await fake.close()
