"""/collections and the 📚 button through the signed endpoint and the fake Discord, on the
preview engine: an image added to a new collection and viewed, share links made and
revoked, a view-only share refused, a small cook run from the form to the export zips, and
buttons that are out of date or on someone else's collection."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.errors import Forbidden
from stationthis.platforms.discord.commands import commands
from stationthis.platforms.discord.ids import unpack
from stationthis.platforms.discord.rest import DiscordRest
from tests.support.fake_discord import FakeDiscord, Message
from tests.support.fake_discord_env import APP_ID, BOT_TOKEN, Env, discord_env
from tests.support.fake_discord_users import Member, eventually
from tests.support.scripted import Script, ScriptedEngine

ALICE = Member("111", "alice", guild="g-1", channel="c-1")
BOB = Member("222", "bob", guild="g-1", channel="c-1")
CAROL = Member("333", "carol")
PUBLIC = "https://studio.example"


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, public_url=PUBLIC,
                           notify_progress_interval=0) as found:  # the preview engine
        yield found


def ids_of(message: Message, action: str) -> list[list[str]]:
    """The parts of every component with this action."""
    return [parts for a, parts in map(unpack, message.custom_ids()) if a == action]


def select_values(message: Message) -> list[str]:
    return [o["value"] for line in message.components for c in line["components"]
            if c.get("type") == 3 for o in c["options"]]


async def make(env: Env, who: Member, prompt: str) -> str:
    """A /make; the media id the 📚 button under the result carries."""
    sent = await env.discord.command(who, "make", {"prompt": prompt, "width": 64,
                                                    "height": 64})
    result = await env.finished(sent.token)
    assert result.content.startswith("✅"), result.content
    found = ids_of(result, "ca")
    assert len(found) == 1, result.custom_ids()
    return found[0][0]


async def new_collection(env: Env, who: Member, name: str) -> str:
    sent = await env.discord.command(who, "collections", {"name": name}, sub="new")
    shown = await env.original(sent.token)
    assert shown.embeds[0]["title"] == f"📚 {name}", shown
    return ids_of(shown, "cv")[0][0]


async def followup_text(env: Env, token: str) -> str:
    await env.settled()
    found = await eventually(lambda: env.fake.followups.get(token), what="a follow-up")
    message = env.fake.messages[found[-1]]
    assert message.flags == 64, "errors are ephemeral"
    return message.content


async def test_add_a_result_to_a_new_collection_then_view_it(env: Env) -> None:
    media = await make(env, ALICE, "a red fox")
    picked = await env.discord.press(ALICE, f"ca:{media}")
    assert picked.body == {"type": 5, "data": {"flags": 64}}
    choose = await env.original(picked.token)
    assert select_values(choose) == ["new"]  # no collections yet: only "new"
    form = await env.discord.press(ALICE, f"cas:{media}", values=["new"])
    assert form.type == 9 and form.body["data"]["custom_id"] == f"mcn:{media}"
    made = await env.discord.submit_modal(ALICE, f"mcn:{media}",
                                          {"name": "Foxes", "description": "all of them"})
    shown = await env.original(made.token)
    assert shown.embeds[0]["title"] == "📚 Foxes"
    assert "1 item" in shown.embeds[0]["description"]
    assert list(shown.files) == ["1.jpg"] and shown.files["1.jpg"][:2] == b"\xff\xd8"
    alice = await env.account(ALICE)
    (foxes,) = await env.app.collections.mine(alice)
    page = await env.app.collections.items(alice, foxes.id)
    assert [i.media_id for i in page.items] == [media]
    # a second image goes into the existing collection through the select
    second = await make(env, ALICE, "a blue fox")
    again = await env.discord.press(ALICE, f"ca:{second}")
    assert foxes.id in select_values(await env.original(again.token))
    into = await env.discord.press(ALICE, f"cas:{second}", values=[foxes.id])
    assert into.type == 6
    assert "Added to **Foxes** (2 items)" in (await env.original(into.token)).content
    listed = await env.original((await env.discord.command(ALICE, "collections",
                                                           sub="list")).token)
    assert "**Foxes** · 2 items" in listed.content
    viewed = await env.original((await env.discord.command(
        ALICE, "collections", {"collection": "foxes"}, sub="view")).token)
    assert sorted(viewed.files) == ["1.jpg", "2.jpg"]
    assert {"ce", "cl", "ck", "cz", "cx"} <= {unpack(i)[0] for i in viewed.custom_ids()}
    # someone else's image cannot be added
    theirs = await env.discord.press(BOB, f"ca:{media}")
    assert "belong to whoever made the image" in theirs.ephemeral_text


async def test_share_link_created_listed_and_revoked(env: Env) -> None:
    cid = await new_collection(env, ALICE, "Trips")
    panel = await env.discord.press(ALICE, f"cl:{cid}")
    assert "No active links" in (await env.original(panel.token)).content
    made = await env.discord.press(ALICE, f"cln:{cid}", values=["24h"])
    shown = await env.original(made.token)
    alice = await env.account(ALICE)
    (link,) = await env.app.collections.links(alice, cid)
    assert f"New link: {PUBLIC}/c/{link.token}" in shown.content
    assert link.expires_at is not None
    assert round((link.expires_at - link.created_at).total_seconds() / 3600) == 24
    assert [[cid, link.token]] == ids_of(shown, "clr")
    opened = await env.app.collections.open_link(link.token)
    assert opened.collection.name == "Trips"
    revoked = await env.discord.press(ALICE, f"clr:{cid}:{link.token}")
    after = await env.original(revoked.token)
    assert "Revoked" in after.content and ids_of(after, "clr") == []
    with pytest.raises(Forbidden, match="revoked"):
        await env.app.collections.open_link(link.token)
    # only the owner manages links
    await env.account(BOB)
    await env.app.collections.share(alice, cid, "discord:222", "edit")
    refused = await env.discord.press(BOB, f"cln:{cid}", values=["never"])
    assert "Only the collection's owner" in refused.ephemeral_text
    assert len(await env.app.collections.links(alice, cid)) == 1


async def test_a_view_only_share_is_refused_edits(env: Env) -> None:
    cid = await new_collection(env, ALICE, "Portraits")
    bob = await env.account(BOB)
    shared = await env.discord.command(ALICE, "collections", {"collection": "Portraits",
                                                              "user": BOB.id}, sub="share")
    assert "with discord:222 (view)" in (await env.original(shared.token)).content
    listed = await env.original((await env.discord.command(BOB, "collections",
                                                           sub="list")).token)
    assert "Shared with you" in listed.content and "Portraits" in listed.content
    opened = await env.discord.press(BOB, "cvs", values=[cid])
    view = await env.original(opened.token)
    assert "view only" in view.embeds[0]["description"]
    assert {unpack(i)[0] for i in view.custom_ids()} == {"cz", "cv"}
    edit = await env.discord.press(BOB, f"ce:{cid}")
    assert "You can only view this collection" in edit.ephemeral_text
    delete = await env.discord.press(BOB, f"cx:{cid}")
    assert "only view" in delete.ephemeral_text
    renamed = await env.discord.command(BOB, "collections", {"collection": "Portraits",
                                                             "name": "Mine now"},
                                        sub="rename")
    assert "only view" in (await env.original(renamed.token)).content
    assert (await env.app.collections.view(bob, cid)).name == "Portraits"
    # edit permission: the form opens and the rename is saved
    await env.discord.command(ALICE, "collections", {"collection": "Portraits",
                                                     "identity": "discord:222",
                                                     "permission": "edit"}, sub="share")
    await env.settled()
    form = await env.discord.press(BOB, f"ce:{cid}")
    assert form.type == 9 and form.body["data"]["custom_id"] == f"mce:{cid}"
    saved = await env.discord.submit_modal(BOB, f"mce:{cid}", {"name": "Faces",
                                                               "description": "close ups"})
    assert (await env.original(saved.token)).embeds[0]["title"] == "📚 Faces"
    assert (await env.app.collections.view(bob, cid)).description == "close ups"


async def test_cook_three_pieces_review_and_export(env: Env) -> None:
    alice = await env.account(ALICE)
    await env.app.ledger.grant(alice.id, 5000, key="test:alice", memo="test")
    cid = await new_collection(env, ALICE, "Beasts")
    form = await env.discord.command(ALICE, "collections", {"collection": "Beasts"},
                                     sub="cook")
    assert form.type == 9 and form.body["data"]["custom_id"] == f"mck:{cid}"
    bad = await env.discord.submit_modal(ALICE, f"mck:{cid}", {
        "prompt": "a [animal] at [time]", "traits": "animal: fox", "supply": "3"})
    assert "no trait type named 'time'" in (await env.original(bad.token)).content
    configured = await env.discord.submit_modal(ALICE, f"mck:{cid}", {
        "prompt": "a [animal] in [place], watercolor",
        "traits": "animal: fox*3, owl\nplace: forest, city=a big city", "supply": "3"})
    quoted = await env.original(configured.token)
    assert "3 pieces ×" in quoted.content and "#1: a " in quoted.content
    assert ids_of(quoted, "cks") == [[cid]]
    started = await env.discord.press(ALICE, f"cks:{cid}")
    assert started.type == 6
    done = await env.finished(started.token, timeout=60)
    assert done.content.startswith("✅ Cooked **Beasts**: 3/3 made")
    edits = [c.payload.get("content", "") for c in env.fake.calls_to("PATCH", started.token)]
    assert any("Cooking **Beasts**" in e and "/3 made" in e for e in edits[:-1]), edits
    # review: three pieces with thumbnails; keep two, reject one
    review = await env.discord.press(ALICE, f"cr:{cid}")
    shown = await env.original(review.token)
    assert sorted(shown.files) == ["piece1.jpg", "piece2.jpg", "piece3.jpg"]
    assert [p[1] for p in ids_of(shown, "crk")] == ["1", "2", "3"]
    for action, number in (("crk", 1), ("crk", 2), ("crx", 3)):
        pressed = await env.discord.press(ALICE, f"{action}:{cid}:{number}:1")
        after = await env.original(pressed.token)
    assert "#1 · ✅ kept" in after.content and "#3 · ❌ rejected" in after.content
    page = await env.app.collections.items(alice, cid)
    assert [i.name for i in page.items] == ["Beasts #1", "Beasts #2"]
    # export: both zips, with the layout the workflows define
    exported = await env.discord.press(ALICE, f"cz:{cid}")
    files = (await env.original(exported.token)).files
    assert sorted(files) == ["beasts-captions.zip", "beasts-nft.zip"]
    nft = zipfile.ZipFile(io.BytesIO(files["beasts-nft.zip"]))
    assert sorted(nft.namelist()) == ["collection.json", "images/1.png", "images/2.png",
                                      "metadata/1.json", "metadata/2.json"]
    meta = json.loads(nft.read("metadata/1.json"))
    assert [a["trait_type"] for a in meta["attributes"]] == ["animal", "place"]
    captions = zipfile.ZipFile(io.BytesIO(files["beasts-captions.zip"]))
    assert sorted(captions.namelist()) == ["001.png", "001.txt", "002.png", "002.txt"]
    assert "watercolor" in captions.read("001.txt").decode()


async def test_stale_buttons_and_other_peoples_collections(env: Env) -> None:
    cid = await new_collection(env, ALICE, "Secret")
    await env.account(CAROL)
    for custom_id in (f"cv:{cid}", f"ce:{cid}", f"cx:{cid}", f"cz:{cid}", f"ck:{cid}"):
        answer = await env.discord.press(CAROL, custom_id)
        assert "collection was not found" in answer.ephemeral_text, custom_id
    looked = await env.discord.command(CAROL, "collections", {"collection": "Secret"},
                                       sub="view")
    assert "no collection named 'Secret'" in (await env.original(looked.token)).content
    assert (await env.discord.press(ALICE, "cv")).ephemeral_text == \
        "This button is out of date."
    odd = await env.discord.press(ALICE, f"crk:{cid}:x:1")
    assert "out of date" in await followup_text(env, odd.token)
    # delete asks first; afterwards its buttons are out of date
    asked = await env.discord.press(ALICE, f"cx:{cid}")
    assert ids_of(await env.original(asked.token), "cxy") == [[cid]]
    gone = await env.discord.press(ALICE, f"cxy:{cid}")
    assert "Collection **Secret** deleted" in (await env.original(gone.token)).content
    assert await env.app.collections.mine(await env.account(ALICE)) == []
    stale = await env.discord.press(ALICE, f"cv:{cid}")
    assert "collection was not found" in stale.ephemeral_text


async def test_register_includes_collections() -> None:
    fake = FakeDiscord(APP_ID, BOT_TOKEN)
    await fake.start()
    rest = DiscordRest(fake.base_url, APP_ID, BOT_TOKEN)
    try:
        await rest.register_commands(commands())
    finally:
        await rest.aclose()
        await fake.close()
    (registered,) = [c for c in fake.commands["global"] if c["name"] == "collections"]
    subs = {o["name"] for o in registered["options"]}
    assert subs == {"list", "new", "view", "rename", "delete", "share", "links", "cook",
                    "review", "export"}


async def test_pause_resume_and_cancel_buttons(make_settings: Callable[..., Settings]) -> None:
    hanging = ScriptedEngine(Script(hang=True))  # pieces run until they are cancelled
    async with discord_env(make_settings, hanging, notify_progress_interval=0) as env:
        alice = await env.account(ALICE)
        before = (await env.app.ledger.balance(alice.id)).total
        cid = await new_collection(env, ALICE, "Slow")
        await env.app.cook.configure(alice, cid, {
            "master_prompt": "a [animal]", "supply": 5,
            "trait_types": [{"name": "animal", "traits": ["fox", "owl"]}]})
        started = await env.discord.press(ALICE, f"cks:{cid}")

        def running() -> Message | None:
            found = env.fake.original(started.token)
            return found if found and "Cooking **Slow**: 0/5" in found.content else None

        shown = await eventually(running, what="the run's progress")
        assert [a for a, _ in map(unpack, shown.custom_ids())] == ["ckp", "ckc"]
        paused = await env.discord.press(ALICE, f"ckp:{cid}")
        message = await env.original(paused.token)
        assert message.content.startswith("⏸ Cooking **Slow** paused at 0/5")
        assert ids_of(message, "ckr") == [[cid]]
        assert (await env.app.cook.status(alice, cid)).state == "paused"
        resumed = await env.discord.press(ALICE, f"ckr:{cid}")
        assert "🍳 Cooking **Slow**" in (await env.original(resumed.token)).content
        await env.app.cook.configure(alice, cid, {
            "master_prompt": "a [animal]", "supply": 2,
            "trait_types": [{"name": "animal", "traits": ["cat"]}]})
        other = await env.discord.press(ALICE, f"cks:{cid}")
        assert "cancel it first" in (await env.original(other.token)).content
        cancelled = await env.discord.press(ALICE, f"ckc:{cid}")
        message = await env.original(cancelled.token)
        assert message.content.startswith("✖️ Cooking **Slow** cancelled at 0/5")
        status = await env.app.cook.status(alice, cid)
        assert status.state == "cancelled" and status.in_flight == 0

        await env.app.notifications.wait_idle()
        assert (await env.app.ledger.balance(alice.id)).total == before  # holds released
        bob_pressed = await env.discord.press(BOB, f"ckr:{cid}")
        assert "not found" in bob_pressed.ephemeral_text


async def test_forms_new_without_a_name_and_traits_as_json(env: Env) -> None:
    form = await env.discord.command(ALICE, "collections", sub="new")
    assert form.type == 9 and form.body["data"]["custom_id"] == "mcn"
    empty = await env.discord.submit_modal(ALICE, "mcn", {"name": "   "})
    assert "name must be 1–100 characters" in (await env.original(empty.token)).content
    made = await env.discord.submit_modal(ALICE, "mcn", {"name": "Birds"})
    shown = await env.original(made.token)
    assert shown.embeds[0]["title"] == "📚 Birds" and shown.files == {}
    cid = ids_of(shown, "cv")[0][0]
    broken = await env.discord.submit_modal(ALICE, f"mck:{cid}", {
        "prompt": "a [bird]", "traits": '{"bird": [', "supply": "2"})
    assert "not valid JSON" in (await env.original(broken.token)).content
    configured = await env.discord.submit_modal(ALICE, f"mck:{cid}", {
        "prompt": "a [bird] singing", "traits": '{"bird": {"robin": 2, "wren": 1}}',
        "supply": "2"})
    assert "2 pieces ×" in (await env.original(configured.token)).content
    alice = await env.account(ALICE)
    config = await env.app.cook.config(alice, cid)
    assert [(t.name, t.weight) for t in config.trait_types[0].traits] == [("robin", 2),
                                                                          ("wren", 1)]
    # the form opens again with what was saved
    again = await env.discord.press(ALICE, f"ck:{cid}")
    values = {r["components"][0]["custom_id"]: r["components"][0].get("value")
              for r in again.body["data"]["components"]}
    assert values == {"prompt": "a [bird] singing", "traits": "bird: robin*2, wren",
                      "supply": "2"}


async def test_the_end_of_a_run_goes_to_the_channel_once_the_token_expired(
    make_settings: Callable[..., Settings],
) -> None:
    slow = ScriptedEngine(Script(steps=3, delay=0.3))  # the token expires while it runs
    async with discord_env(make_settings, slow) as env:
        await _run_outlives_token(env)


async def _run_outlives_token(env: Env) -> None:
    alice = await env.account(ALICE)
    cid = await new_collection(env, ALICE, "Late")
    await env.app.cook.configure(alice, cid, {
        "master_prompt": "a [animal]", "supply": 1,
        "trait_types": [{"name": "animal", "traits": ["fox"]}]})
    started = await env.discord.press(ALICE, f"cks:{cid}")
    await env.settled()
    env.fake.expire(started.token)
    posted = await eventually(lambda: env.fake.channel("c-1"), timeout=30,
                              what="the end of the run in the channel")
    assert posted[0].content.startswith(f"<@{ALICE.id}> ✅ Cooked **Late**: 1/1 made")
    assert ids_of(posted[0], "cr") == [[cid]]
