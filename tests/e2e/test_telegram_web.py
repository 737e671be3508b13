"""/web: the bot's one-time sign-in link signs a browser into the real web app (the bot hosted
in it, webhook mode), once; in a group the bot refuses and posts no link."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import func, select

from stationthis.config import Settings
from stationthis.core.schema import login_links
from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, run_bot, text_of, wait_message

LINK = re.compile(r"(https?://\S+/auth/link/(\S+))")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


async def test_the_link_signs_a_browser_in_once(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1801, "Alice")
    async with run_bot(fake, make_settings, mode="webhook") as bot:
        assert bot.url is not None
        fake.send_text(alice, "/make a lantern")  # the account exists and has history
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m, timeout=30)
        fake.send_text(alice, "/web")
        sent = await wait_message(fake, alice, said("/auth/link/"))
        found = LINK.search(text_of(sent))
        assert found is not None
        url = found.group(1)
        async with httpx.AsyncClient() as browser:
            first = await browser.get(url, follow_redirects=False)
            cookies = dict(first.cookies)
            ids = await browser.get(f"{bot.url}/api/v1/account/identities")
        async with httpx.AsyncClient() as other:
            second = await other.get(url, follow_redirects=False)
        account = await bot.app.users.resolve(Identity("telegram", "1801"))
    assert url.startswith(bot.url + "/auth/link/")  # the public URL is the base
    assert "expires in 10 minutes" in text_of(sent) and "once" in text_of(sent)
    assert first.status_code == 303 and first.headers["location"] == "/"
    assert cookies, "the browser got a session cookie"
    assert ids.status_code == 200 and "telegram:1801" in ids.text
    assert second.status_code == 401 and not second.cookies  # single use
    assert account.id  # the same account the bot knows


async def test_without_a_public_url_the_link_uses_the_listening_address(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1802)
    async with run_bot(fake, make_settings, host="127.0.0.1", port=8123,
                       web={"login_link_minutes": 3}):
        fake.send_text(alice, "/web")
        sent = await wait_message(fake, alice, said("/auth/link/"))
    assert "http://127.0.0.1:8123/auth/link/" in text_of(sent)
    assert "expires in 3 minutes" in text_of(sent)


async def test_in_a_group_no_link_is_posted(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1803)
    group = fake.group(-1001803, "Studio")
    async with run_bot(fake, make_settings) as bot:
        fake.send_text(alice, "/web", chat=group)
        refused = await wait_message(fake, group, said("private chat"))
        fake.send_text(alice, "/web@stationthis_test_bot", chat=group)
        await wait_message(fake, group, lambda m: len(
            [x for x in fake.messages_in(group) if from_bot(x)]) >= 2)
        tokens = await _links_made(bot.app)
    assert all("/auth/link/" not in text_of(m) for m in fake.messages_in(group))
    assert "/web" in text_of(refused) and tokens == 0


async def _links_made(app: App) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(login_links)))
                   .scalar_one())
