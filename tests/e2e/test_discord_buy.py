"""/buy on Discord: the packages and a one-time link that signs the user into the web studio
(the same account: one balance), where the Buy page takes the card payment."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from stationthis.config import Settings
from stationthis.platforms.web.app import create_app
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import ScriptedEngine

ALICE = Member("111", "alice", guild="g-1", channel="c-1")
PACKAGES = [{"name": "starter", "points": 1000, "price": 500, "stars": 50}]
CARD = {"stripe_secret_key": "sk_test_unused", "stripe_webhook_secret": "whsec_unused",
        "public_url": "https://station.example"}
LINK = re.compile(r"https://station\.example(/auth/link/[^\s?]+)(\?next=/buy)?")


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, ScriptedEngine(), packages=PACKAGES, **CARD) as found:
        yield found


async def test_buy_lists_packages_and_signs_into_the_buy_page(env: Env) -> None:
    asked = await env.discord.command(ALICE, "buy")
    assert asked.body == {"type": 5, "data": {"flags": 64}}  # only alice sees the link
    message = await env.original(asked.token)
    assert "starter: 1,000 points for 5.00 USD" in message.content
    found = LINK.search(message.content)
    assert found is not None, message.content
    web = create_app(env.app, manage_lifecycle=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web),
                                 base_url="https://station.example") as browser:
        signed = await browser.get(found.group(1), follow_redirects=False)
        assert signed.status_code == 303
        page = await browser.get("/buy")
        assert page.status_code == 200 and 'data-package="starter"' in page.text
        ids = (await browser.get("/api/v1/account/identities")).json()
        assert "discord:111" in ids["identities"]
        again = await browser.get(found.group(1), follow_redirects=False)
        assert again.status_code == 401  # one time only


async def test_without_card_checkout_it_points_to_telegram(
        make_settings: Callable[..., Settings]) -> None:
    async with discord_env(make_settings, ScriptedEngine(), packages=PACKAGES) as env:
        asked = await env.discord.command(ALICE, "buy")
        message = await env.original(asked.token)
        assert "sold on Telegram" in message.content and "/auth/link/" not in message.content
