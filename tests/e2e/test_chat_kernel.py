"""The chat kernel on both platforms: the same buttons with the same codes under every result,
zoom out (🔍) from either, the place in the queue on Discord as on Telegram, and old Telegram
buttons (📚 was ``k``) still working."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.platforms.chat.codes import pack, unpack
from stationthis.platforms.telegram.callbacks import pack as telegram_pack
from tests.support.fake_discord_env import discord_env
from tests.support.fake_discord_users import Member
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import Script, ScriptedEngine

ALICE = Member("311", "alice", guild="g-3", channel="c-3")
BOB = Member("312", "bob", guild="g-3", channel="c-3")


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def test_one_encoding_reads_both_forms() -> None:
    media, dataset = uuid.uuid4().hex, uuid.uuid4().hex
    compact = telegram_pack("da", media, dataset)  # Telegram: 64 bytes
    plain = pack("da", media, dataset)  # Discord: as it is
    assert len(compact.encode()) <= 64 < len(plain)
    assert unpack(compact) == unpack(plain) == ("da", [media, dataset])
    assert unpack(telegram_pack("s", "size", "1024x768")) == unpack("s:size:1024x768")


async def test_the_same_buttons_on_both_platforms_and_zoom_out_from_each(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1301)
    async with run_bot(fake, make_settings) as bot:  # the preview engine
        fake.send_text(alice, "/make a lighthouse on a cliff")
        first = await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m,
                                   timeout=30)
        keys = buttons(first)
        telegram_codes = {unpack(data)[0] for data in keys.values()}
        fake.press(alice, first, keys["🔍 Zoom out"])
        zoom_done = await wait_message(fake, alice, said("✅ outpaint"), timeout=30)
        fake.press(alice, first, keys["⬅️ Pan"])
        panned = await wait_message(fake, alice, lambda m: said("✅ outpaint")(m)
                                    and m["message_id"] > zoom_done["message_id"], timeout=30)
        account = await bot.app.users.resolve(Identity("telegram", "1301"))
        jobs = {j.origin or "new": j for j in await bot.app.jobs.recent(account.id, limit=5)}
    assert "🔍 Zoom out" in keys and "📚 Add to collection" in keys
    zoomed = jobs["zoom_out"]
    assert zoomed.tool == "outpaint" and zoomed.parent_id == jobs["new"].id
    assert zoomed.params["prompt"] == "a lighthouse on a cliff"
    pan = jobs["pan_left"]  # half the image more on the left, the prompt carried
    assert (pan.params["left"], pan.params["right"], pan.params["width"]) == (256, 0, 768)
    assert pan.params["prompt"] == "a lighthouse on a cliff" and panned
    assert all(len(data.encode()) <= 64 for data in keys.values())
    assert (zoomed.params["width"], zoomed.params["height"]) == (768, 768)  # 512 × 1.5

    async with discord_env(make_settings, ScriptedEngine()) as env:
        sent = await env.discord.command(ALICE, "make", {"prompt": "a fox", "width": 64,
                                                          "height": 64})
        message = await env.finished(sent.token)
        discord_codes = {unpack(c)[0] for c in message.custom_ids()}
        media = next(unpack(c)[1][0] for c in message.custom_ids() if c.startswith("zo:"))
        zoom = await env.discord.press(ALICE, f"zo:{media}")
        assert zoom.body == {"type": 5}
        zoomed_message = await env.finished(zoom.token)
        job = await env.app.jobs.get(next(unpack(c)[1][0] for c in zoomed_message.custom_ids()
                                          if c.startswith("r:")))
        theirs = await env.discord.press(BOB, f"zo:{media}")
    assert telegram_codes == discord_codes == {"r", "u", "v", "zo", "z2", "d", "ca",
                                               "pl", "pu", "pr", "pd"}
    assert job.tool == "outpaint" and job.origin == "zoom_out"
    assert (job.params["width"], job.params["height"]) == (96, 96)
    assert "belong to whoever made the image" in theirs.ephemeral_text


async def test_discord_shows_the_place_in_the_queue(
    make_settings: Callable[..., Settings]
) -> None:
    engine = ScriptedEngine(Script(hang=True))
    async with discord_env(make_settings, engine, max_running=1) as env:
        first = await env.discord.command(ALICE, "make", {"prompt": "the one that runs"})
        await env.settled()
        alice = await env.account(ALICE)

        async def running() -> bool:
            return any(a.state == "running" for a in await env.app.status.active(alice))

        for _ in range(200):
            if await running():
                break
            await asyncio.sleep(0.05)
        second = await env.discord.command(BOB, "make", {"prompt": "second"})
        await env.settled()
        edits = [c.payload.get("content", "")
                 for c in env.fake.calls_to("PATCH", second.token)]
        for member in (ALICE, BOB):
            account = await env.account(member)
            await env.app.status.cancel_all(account)
        assert first.body == {"type": 5}
    assert any("points held" in e and "#1 in the queue" in e for e in edits), edits


async def test_an_old_telegram_collection_button_still_works(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1302)
    async with run_bot(fake, make_settings, engine=ScriptedEngine()):
        fake.send_text(alice, "/make a teapot")
        first = await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m)
        action, (media,) = unpack(buttons(first)["📚 Add to collection"])
        # the same message as the bot wrote it before decision 0021: 📚 was "k"
        old_data = telegram_pack("k", media)
        stored = fake._chats[first["chat"]["id"]].messages[first["message_id"]]
        stored["reply_markup"] = {"inline_keyboard": [[{"text": "📚 Add to collection",
                                                        "callback_data": old_data}]]}
        fake.press(alice, first, old_data)
        picker = await wait_message(fake, alice, said("collection"))
    assert action == "ca"
    assert "New collection" in str(buttons(picker))
