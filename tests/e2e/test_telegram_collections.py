"""Collections in Telegram, against the fake Bot API server with the real bot: the 📚 button
under a result, /collections and views, share links, sharing with another user (view, not
edit), a small cook run with its progress, review and export, and bad input that loses
nothing."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from stationthis.config import Settings
from stationthis.core.errors import Forbidden
from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.support.fake_telegram import FakeTelegram, FakeUser
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import Script, ScriptedEngine

JSONish = dict[str, Any]
COOK = "/cook critters set 3 | a [animal] in the [place] | animal: fox, owl*2, cat | place: snow"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def busy_bot(fake: FakeTelegram, make_settings: Callable[..., Settings], **overrides: Any
             ) -> Any:
    """The bot, with a per-user rate limit these many steps stay under."""
    return run_bot(fake, make_settings, telegram_rate_burst=100, **overrides)


def said(text: str) -> Callable[[JSONish], bool]:
    return lambda m: from_bot(m) and text in text_of(m)


def photos(fake: FakeTelegram, chat: FakeUser) -> list[JSONish]:
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m
            and "📁 Add to dataset" in buttons(m)]


async def make(fake: FakeTelegram, user: FakeUser, prompt: str) -> JSONish:
    before = len(photos(fake, user))
    fake.send_text(user, f"/make {prompt}")
    await wait_message(fake, user, lambda m: len(photos(fake, user)) > before, timeout=30)
    return photos(fake, user)[before]


async def account(app: App, user: FakeUser) -> Any:
    return await app.users.resolve(Identity("telegram", str(user.id)))


def mark(fake: FakeTelegram, user: FakeUser) -> int:
    """The id of the last message in the chat now (what comes later has a larger one)."""
    return max((m["message_id"] for m in fake.messages_in(user)), default=0)


async def latest(fake: FakeTelegram, user: FakeUser, text: str, after: int = 0) -> JSONish:
    """The first bot message containing ``text`` that came after message ``after``."""
    return await wait_message(fake, user, lambda m: m["message_id"] > after and said(text)(m))


async def test_add_an_image_to_a_new_collection_then_view_it(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1901)
    async with busy_bot(fake, make_settings) as bot:
        fox = await make(fake, alice, "a red fox")
        assert "📚 Add to collection" in buttons(fox)
        fake.press(alice, fox, buttons(fox)["📚 Add to collection"])
        pick = await wait_message(fake, alice, said("You have no collection yet"))
        fake.press(alice, pick, buttons(pick)["➕ New collection"])
        added = await wait_message(fake, alice, said("📚 Added to a red fox"))
        count = mark(fake, alice)
        fake.press(alice, added, buttons(added)["📚 a red fox (1)"])
        view = await latest(fake, alice, "📚 a red fox ·", count)
        [thumb] = [m for m in fake.messages_in(alice)
                   if count < m["message_id"] < view["message_id"]]
        # a second image into a collection made by command
        fake.send_text(alice, "/collection new Favourites")
        await wait_message(fake, alice, said("Collection Favourites created"))
        owl = await make(fake, alice, "an owl at night")
        count = mark(fake, alice)
        fake.press(alice, owl, buttons(owl)["📚 Add to collection"])
        pick = await latest(fake, alice, "Add it to which collection?", count)
        fake.press(alice, pick, buttons(pick)["📚 Favourites (0)"])
        await wait_message(fake, alice, said("📚 Added to Favourites (1 item)"))
        fake.send_text(alice, "/collections")
        listing = await wait_message(fake, alice, said("Your collections"))
        me = await account(bot.app, alice)
        jobs = await bot.app.jobs.recent(me.id, limit=5)
        mine = {c.name: c for c in await bot.app.collections.mine(me)}
        fox_items = (await bot.app.collections.items(me, mine["a red fox"].id)).items
        owl_items = (await bot.app.collections.items(me, mine["Favourites"].id)).items
    by_prompt = {j.params["prompt"]: j for j in jobs}
    assert [i.media_id for i in fox_items] == by_prompt["a red fox"].outputs
    assert [i.media_id for i in owl_items] == by_prompt["an owl at night"].outputs
    assert "1 item · yours" in text_of(view) and "📦 Export" in buttons(view)
    assert "1. a red fox" in text_of(view)  # an item is shown by its prompt
    assert "photo" in thumb  # the thumbnail came before the text
    assert "1. a red fox · 1 item" in text_of(listing)
    assert "2. Favourites · 1 item" in text_of(listing)


async def test_share_link_made_with_an_expiry_then_revoked(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1902)
    async with busy_bot(fake, make_settings, public_url="https://studio.example.org",
                       telegram_mode="polling") as bot:
        fake.send_text(alice, "/collection new Gallery")
        await wait_message(fake, alice, said("created"))
        fake.send_text(alice, "/collection link Gallery")
        ask = await wait_message(fake, alice, said("How long should it work?"))
        assert set(buttons(ask)) == {"24h", "7d", "30d", "never expires"}
        fake.press(alice, ask, buttons(ask)["7d"])
        made = await wait_message(fake, alice, said("🔗 Share link for Gallery"))
        token = re.search(r"https://studio\.example\.org/c/([0-9a-f]{32})", text_of(made))
        assert token is not None
        opened = await bot.app.collections.open_link(token.group(1))
        fake.send_text(alice, "/collection links Gallery")
        listing = await wait_message(fake, alice, said("Share links of Gallery"))
        fake.press(alice, listing, buttons(listing)["🚫 Revoke"])
        await wait_message(fake, alice, said("🚫 Link revoked"))
        with pytest.raises(Forbidden, match="revoked"):
            await bot.app.collections.open_link(token.group(1))
        count = mark(fake, alice)
        fake.send_text(alice, "/collection links Gallery")
        after = await latest(fake, alice, "Gallery", count)
    assert "until" in text_of(made) and "read-only" in text_of(made)
    assert opened.collection.name == "Gallery"
    assert token.group(1) in text_of(listing)
    assert "no active share links" in text_of(after)


async def test_shared_with_a_user_who_can_view_but_not_edit(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(1903, "Alice"), fake.user(1904, "Bob")
    async with busy_bot(fake, make_settings) as bot:
        fake.send_text(bob, "/start")  # Bob is a StationThis user
        await wait_message(fake, bob, said("Welcome"))
        fake.send_text(alice, "/collection new Portfolio")
        await wait_message(fake, alice, said("created"))
        fox = await make(fake, alice, "a fox in a field")
        fake.press(alice, fox, buttons(fox)["📚 Add to collection"])
        pick = await wait_message(fake, alice, said("Add it to which collection?"))
        fake.press(alice, pick, buttons(pick)["📚 Portfolio (0)"])
        await wait_message(fake, alice, said("Added to Portfolio"))
        fake.send_text(alice, "/collection share Portfolio telegram:1904 view")
        shared = await wait_message(fake, alice, said("Shared Portfolio with telegram:1904"))
        fake.send_text(bob, "/collections")
        listing = await wait_message(fake, bob, said("Shared with you"))
        count = mark(fake, bob)
        fake.press(bob, listing, buttons(listing)["📚 Portfolio (1)"])
        view = await latest(fake, bob, "📚 Portfolio", count)
        fake.send_text(bob, "/collection rename Portfolio Mine now")
        refused = await wait_message(fake, bob, said("only view"))
        fake.send_text(bob, "/collection delete Portfolio")
        not_owner = await wait_message(fake, bob, said("Only the owner"))
        owl = await make(fake, bob, "an owl")
        fake.press(bob, owl, buttons(owl)["📚 Add to collection"])
        bob_pick = await wait_message(fake, bob, said("You have no collection yet"))
        # edit permission: now Bob may rename it
        fake.send_text(alice, "/collection share Portfolio telegram:1904 edit")
        await wait_message(fake, alice, said("they can view and edit it"))
        fake.send_text(bob, "/collection rename Portfolio Our portfolio")
        renamed = await wait_message(fake, bob, said("Renamed to Our portfolio"))
        me = await account(bot.app, alice)
        [portfolio] = await bot.app.collections.mine(me)
        fake.send_text(alice, "/collection share Our portfolio @bob")
        by_username = await wait_message(fake, alice, said("Telegram usernames"))
        fake.send_text(bob, "/collection")
        identity = await wait_message(fake, bob, said("You are telegram:1904"))
        fake.send_text(alice, "/collection unshare Our portfolio telegram:1904")
        await wait_message(fake, alice, said("no longer shared with telegram:1904"))
        count = mark(fake, bob)
        fake.send_text(bob, "/collections")
        gone = await latest(fake, bob, "collections", count)
    assert "they can view it" in text_of(shared)
    assert "Portfolio · 1 item (view)" in text_of(listing)
    assert "shared with you: view" in text_of(view)
    assert set(buttons(view)) == {"📦 Export"}  # no owner buttons for a viewer
    assert "ask its owner for edit access" in text_of(refused)
    assert "Delete" not in text_of(not_owner)
    assert "📚 Portfolio (1)" not in buttons(bob_pick)  # view-only: not offered to add to
    assert renamed and portfolio.name == "Our portfolio" and portfolio.items == 1
    assert "telegram:123" in text_of(by_username) and "/collection share" in text_of(identity)
    assert "No collections yet" in text_of(gone)


async def test_cook_three_pieces_review_keep_and_export(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1905)
    async with busy_bot(fake, make_settings, max_queued_per_user=1) as bot:
        fake.send_text(alice, "/collection new critters")
        await wait_message(fake, alice, said("created"))
        fake.send_text(alice, COOK)
        overview = await wait_message(fake, alice, said("🍳 Cook critters: 3 pieces"))
        fake.press(alice, overview, buttons(overview)["🍳 Start cooking"])
        status = await wait_message(fake, alice, said("cooked 3/3"), timeout=60)
        count = mark(fake, alice)
        fake.press(alice, status, buttons(status)["🔎 Review"])
        review = await latest(fake, alice, "🔎 Review critters", count)
        album = fake.calls_of("sendMediaGroup")[-1]
        fake.press(alice, review, buttons(review)["✅ #1"])
        await wait_message(fake, alice, said("Kept #1: critters has 1 item"))
        fake.press(alice, review, buttons(review)["✅ #3"])
        await wait_message(fake, alice, said("Kept #3: critters has 2 items"))
        fake.press(alice, review, buttons(review)["❌ #2"])
        await wait_message(fake, alice, said("Rejected #2"))
        fake.press(alice, status, buttons(status)["📦 Export"])
        await fake.wait_for("sendDocument", 2)
        docs = [m for m in fake.messages_in(alice) if "document" in m]
        count = mark(fake, alice)
        fake.send_text(alice, "/cook critters start")  # the same configuration again
        again = await latest(fake, alice, "🍳 Cook critters", count)
        fake.press(alice, again, buttons(again)["🍳 Start cooking"])
        recognised = await wait_message(fake, alice, said("cooked already"))
        me = await account(bot.app, alice)
        jobs = await bot.app.jobs.recent(me.id, limit=10)
        pieces = await bot.app.cook.pieces(me, (await bot.app.collections.mine(me))[0].id)
    edits = [c.params.get("text", "") for c in fake.calls_of("editMessageText")]
    # the status message followed the pieces (one at a time here) as the notifier edited it
    assert any("cooking 1/3" in t or "cooking 2/3" in t for t in edits)
    assert edits[-1].startswith("✅ critters: cooked 3/3")
    assert "Price: 3 × " in text_of(overview) and "#1: a " in text_of(overview)
    assert "📦 Export" in buttons(status)
    assert "cooked 3/3" in text_of(recognised) and len(jobs) == 3  # nothing made again
    assert len(album.params["media"]) == 3 and "#1" in text_of(review)
    assert [d["document"]["file_name"] for d in docs] == ["critters-nft.zip",
                                                           "critters-captions.zip"]
    nft = zipfile.ZipFile(io.BytesIO(fake.file_bytes(docs[0]["document"]["file_id"])))
    captions = zipfile.ZipFile(io.BytesIO(fake.file_bytes(docs[1]["document"]["file_id"])))
    assert sorted(nft.namelist()) == ["collection.json", "images/1.png", "images/2.png",
                                      "metadata/1.json", "metadata/2.json"]
    first = json.loads(nft.read("metadata/1.json"))
    second = json.loads(nft.read("metadata/2.json"))
    kept = [p for p in pieces if p.review == "kept"]
    assert [p.number for p in kept] == [1, 3]
    assert first["attributes"] == kept[0].attributes
    assert second["attributes"] == kept[1].attributes
    assert first["name"] == "critters #1" and second["name"] == "critters #3"
    assert sorted(captions.namelist()) == ["001.png", "001.txt", "002.png", "002.txt"]
    assert captions.read("001.txt").decode() == kept[0].prompt
    assert nft.read("images/2.png") == captions.read("002.png")


async def test_cook_pause_and_resume_from_the_status_message(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    engine = ScriptedEngine(Script(steps=3, delay=0.15))
    alice = fake.user(1906)
    async with busy_bot(fake, make_settings, engine=engine, max_queued_per_user=1) as bot:
        fake.send_text(alice, "/collection new slow")
        await wait_message(fake, alice, said("created"))
        fake.send_text(alice, "/cook slow set 4 | a [thing] | thing: cup, jar")
        overview = await wait_message(fake, alice, said("🍳 Cook slow: 4 pieces"))
        fake.press(alice, overview, buttons(overview)["🍳 Start cooking"])
        status = await wait_message(fake, alice, said("slow: cooking 1/4"), timeout=30)
        fake.press(alice, status, buttons(status)["⏸ Pause"])
        paused = await wait_message(fake, alice, said("slow: paused"))
        me = await account(bot.app, alice)
        [c] = await bot.app.collections.mine(me)
        submitted = len(engine.submits)
        fake.send_text(alice, "/cook slow")
        await wait_message(fake, alice, lambda m: from_bot(m) and "paused" in text_of(m)
                           and m["message_id"] != paused["message_id"])
        fake.press(alice, paused, buttons(paused)["▶️ Resume"])
        done = await wait_message(fake, alice, said("slow: cooked 4/4"), timeout=30)
        state = await bot.app.cook.status(me, c.id)
    assert "⏸ Pause" not in buttons(paused) and "✖️ Cancel" in buttons(paused)
    assert submitted <= 3  # no new piece started while paused
    assert state.state == "finished" and state.done == 4
    assert done["message_id"] == status["message_id"]  # one status message, edited


async def test_bad_input_unknown_someone_elses_and_stale(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice, bob = fake.user(1907, "Alice"), fake.user(1908, "Bob")
    group = fake.group(-1001907, "Studio")
    async with busy_bot(fake, make_settings) as bot:
        fake.send_text(alice, "/collection nosuch")
        unknown = await wait_message(fake, alice, said("nosuch"))
        fake.send_text(alice, "/collection new Secret")
        await wait_message(fake, alice, said("created"))
        me = await account(bot.app, alice)
        [secret] = await bot.app.collections.mine(me)
        fake.send_text(bob, f"/collection {secret.id}")
        bobs = await wait_message(fake, bob, said("collection"))
        fake.send_text(alice, "/collections", chat=group)
        listing = await wait_message(fake, group, said("Your collections"))
        press = fake.press(bob, listing, buttons(listing)["📚 Secret (0)"])
        await fake.wait_for("answerCallbackQuery")
        fake.send_text(alice, "/make a comet", chat=group)
        await wait_message(fake, group, lambda m: from_bot(m) and "photo" in m, timeout=30)
        comet = next(m for m in fake.messages_in(group) if from_bot(m) and "photo" in m)
        bob_adds = fake.press(bob, comet, buttons(comet)["📚 Add to collection"])
        await fake.wait_for("answerCallbackQuery", 2)
        fake.send_text(alice, "/cook Secret set many | a [x] | x: y")
        bad_cook = await wait_message(fake, alice, said("/cook NAME set SUPPLY"))
        fake.send_text(alice, "/cook Secret set 2 | a [animal] | colour: red")
        bad_trait = await wait_message(fake, alice, said("no trait type named"))
        fake.send_text(alice, "/collection export Secret")
        empty = await wait_message(fake, alice, said("no items to export"))
        fake.send_text(alice, "/collection delete Secret")
        confirm = await wait_message(fake, alice, said("Delete Secret"))
        fake.press(alice, confirm, buttons(confirm)["🗑 Delete"])
        await wait_message(fake, alice, said("Collection Secret deleted"))
        stale = fake.press(alice, listing, buttons(listing)["📚 Secret (0)"])
        await fake.wait_for("answerCallbackQuery", 3)
        left = await bot.app.collections.mine(me)
        bob_account = await account(bot.app, bob)
        bob_sees = await bot.app.collections.shared_with_me(bob_account)
    assert "see /collections" in text_of(unknown)
    assert "No collection" in text_of(bobs) and "Secret" not in text_of(bobs)
    not_shared = fake.callback_answer(press)
    assert not_shared is not None and "not shared with you" in not_shared["text"]
    theirs = fake.callback_answer(bob_adds)
    assert theirs is not None and "belong to whoever made the image" in theirs["text"]
    stale_answer = fake.callback_answer(stale)
    assert stale_answer is not None and "out of date" in stale_answer["text"]
    assert "no trait type named 'animal'" in text_of(bad_trait)
    assert "e.g. /cook pets set 3" in text_of(bad_cook)
    assert "no items to export" in text_of(empty)
    assert left == [] and bob_sees == []


async def test_the_share_link_from_the_bot_opens_the_web_page_until_revoked(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1909)
    async with busy_bot(fake, make_settings, mode="webhook") as bot:
        assert bot.url is not None
        fox = await make(fake, alice, "a fox on a hill")
        fake.press(alice, fox, buttons(fox)["📚 Add to collection"])
        pick = await wait_message(fake, alice, said("You have no collection yet"))
        fake.press(alice, pick, buttons(pick)["➕ New collection"])
        added = await wait_message(fake, alice, said("📚 Added to a fox on a hill"))
        count = mark(fake, alice)
        fake.press(alice, added, buttons(added)["📚 a fox on a hill (1)"])
        view = await latest(fake, alice, "📚 a fox on a hill ·", count)
        fake.press(alice, view, buttons(view)["🔗 New share link"])
        ask = await wait_message(fake, alice, said("How long should it work?"))
        fake.press(alice, ask, buttons(ask)["never expires"])
        made = await wait_message(fake, alice, said("🔗 Share link for"))
        url = re.search(r"(http://\S+/c/[0-9a-f]{32})", text_of(made))
        assert url is not None
        async with httpx.AsyncClient() as browser:  # a stranger, not signed in
            before = await browser.get(url.group(1))
            fake.press(alice, made, buttons(made)["🚫 Revoke"])
            await wait_message(fake, alice, said("🚫 Link revoked"))
            after = await browser.get(url.group(1))
    assert url.group(1).startswith(bot.url + "/c/")
    assert "never expires" in text_of(made)
    assert before.status_code == 200 and "a fox on a hill" in before.text
    assert after.status_code == 410 and "revoked" in after.text


async def test_cancelling_a_cook_run_releases_every_hold(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    engine = ScriptedEngine(Script(hang=True))  # pieces run until cancelled
    alice = fake.user(1910)
    async with busy_bot(fake, make_settings, engine=engine) as bot:
        fake.send_text(alice, "/collection new stuck")
        await wait_message(fake, alice, said("created"))
        fake.send_text(alice, "/cook stuck set 2 | a [thing] | thing: cup")
        overview = await wait_message(fake, alice, said("🍳 Cook stuck: 2 pieces"))
        fake.press(alice, overview, buttons(overview)["🍳 Start cooking"])
        status = await wait_message(fake, alice, said("stuck: cooking 0/2"))
        me = await account(bot.app, alice)
        await wait_message(fake, alice, lambda m: len(engine.runs) == 2)
        held = await bot.app.ledger.balance(me.id)
        fake.press(alice, status, buttons(status)["✖️ Cancel"])
        cancelled = await wait_message(fake, alice, said("stuck: cancelled"))
        jobs = await bot.app.jobs.recent(me.id, limit=5)
        for job in jobs:
            await bot.app.jobs.wait(job.id)
        after = await bot.app.ledger.balance(me.id)
    assert held.total < 1000  # two pieces were held while they ran
    assert "▶️ Resume" in buttons(cancelled)
    assert len(jobs) == 2 and {j.state for j in await _fresh(bot.app, jobs)} == {"cancelled"}
    assert after.total == 1000  # nothing was charged


async def _fresh(app: App, jobs: list[Any]) -> list[Any]:
    return [await app.jobs.get(j.id) for j in jobs]
