"""/make and the buttons under its result, through the signed endpoint and the fake Discord:
deferred response → progress edits → the image with its buttons, and the ledger rows."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.platforms.discord.ids import unpack
from tests.support.fake_discord import Message
from tests.support.fake_discord_env import BOT_TOKEN, Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import Script, ScriptedEngine, png

ALICE = Member("111", "alice", guild="g-1", channel="c-1")
BOB = Member("222", "bob", guild="g-1", channel="c-1")


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(Script(steps=3, delay=0.03))


@pytest.fixture
async def env(make_settings: Callable[..., Settings],
              engine: ScriptedEngine) -> AsyncIterator[Env]:
    async with discord_env(make_settings, engine, notify_progress_interval=0) as found:
        yield found


def buttons(message: Message) -> dict[str, str]:
    """action → id of each button (the first of each action)."""
    found: dict[str, str] = {}
    for custom_id in message.custom_ids():
        action, parts = unpack(custom_id)
        found.setdefault(action, parts[0] if parts else "")
    return found


def image_of(message: Message) -> Image.Image:
    assert len(message.files) == 1, message.files.keys()
    return Image.open(io.BytesIO(next(iter(message.files.values()))))


async def test_make_edits_progress_then_delivers_the_image_with_buttons(env: Env) -> None:
    sent = await env.discord.command(ALICE, "make", {"prompt": "a red fox", "width": 128,
                                                      "height": 96})
    assert sent.body == {"type": 5}  # deferred, public
    message = await env.finished(sent.token)
    assert message.content.startswith("✅ make: done")
    assert image_of(message).size == (128, 96)
    ids = buttons(message)
    assert set(ids) == {"r", "u", "v", "zo", "z2", "d", "ca", "pl", "pu", "pr", "pd"}
    job = await env.app.jobs.get(ids["r"])
    assert job.state == "succeeded" and job.params["prompt"] == "a red fox"
    assert ids["u"] == job.outputs[0]
    # the status message was edited while the job ran, before the result replaced it
    edits = [c.payload.get("content", "") for c in env.fake.calls_to("PATCH", sent.token)]
    assert edits[0].startswith("⏳ make:") and "points held" in edits[0]
    assert any(e.startswith("🎨 make: working") for e in edits[1:-1])
    final = env.fake.calls_to("PATCH", sent.token)[-1]
    assert final.content_type.startswith("multipart/form-data")
    assert final.payload["attachments"][0]["filename"].endswith(".png")
    # the ledger: held, captured, and the balance is down by the cost
    alice = await env.account(ALICE)
    rows = [(r.kind, r.ref) for r in await env.app.ledger.history(alice.id)]
    assert ("hold", f"job:{job.id}") in rows and ("capture", f"job:{job.id}") in rows
    balance = await env.app.ledger.balance(alice.id)
    assert balance.total == 1000 - (job.cost or 0) and (job.cost or 0) > 0


async def test_regenerate_and_upscale_buttons_start_new_jobs(env: Env) -> None:
    sent = await env.discord.command(ALICE, "make", {"prompt": "a lighthouse", "width": 64,
                                                      "height": 64})
    first = buttons(await env.finished(sent.token))
    again = await env.discord.press(ALICE, f"r:{first['r']}")
    assert again.body == {"type": 5}
    regenerated = await env.finished(again.token)
    new_job = await env.app.jobs.get(buttons(regenerated)["r"])
    assert new_job.id != first["r"] and new_job.parent_id == first["r"]
    assert new_job.params["prompt"] == "a lighthouse"
    up = await env.discord.press(ALICE, f"u:{first['u']}")
    upscaled = await env.finished(up.token)
    up_job = await env.app.jobs.get(buttons(upscaled)["r"])
    assert up_job.tool == "upscale" and up_job.inputs == {"image": first["u"]}
    assert image_of(upscaled).size == (64, 64)  # the scripted engine echoes the input size


async def test_img2img_with_an_attachment(env: Env) -> None:
    url = env.fake.attach("cat.png", png(160, 96, (10, 200, 10)))
    sent = await env.discord.command(
        ALICE, "make", {"prompt": "a green cat"},
        attachments={"image": {"url": url, "filename": "cat.png", "content_type": "image/png",
                               "size": 1000}})
    message = await env.finished(sent.token)
    job = await env.app.jobs.get(buttons(message)["r"])
    assert job.tool == "img2img"
    source = await env.app.media.get(job.inputs["image"])
    assert (source.width, source.height) == (160, 96)
    assert source.owner_id == (await env.account(ALICE)).id
    assert (job.params["width"], job.params["height"]) == (160, 96)


async def test_a_non_image_attachment_is_refused_at_once(env: Env) -> None:
    url = env.fake.attach("notes.txt", b"hello", "text/plain")
    sent = await env.discord.command(
        ALICE, "make", {"prompt": "x"},
        attachments={"image": {"url": url, "filename": "notes.txt", "content_type": "text/plain",
                               "size": 5}})
    assert sent.type == 4
    assert "notes.txt is not an image" in sent.ephemeral_text
    assert env.fake.calls == [] and await env.app.jobs.list_for(
        (await env.account(ALICE)).id) == []


async def test_a_corrupt_image_is_refused_privately_and_costs_nothing(env: Env) -> None:
    url = env.fake.attach("broken.png", b"\x89PNG not really")
    sent = await env.discord.command(
        ALICE, "upscale", attachments={"image": {"url": url, "filename": "broken.png",
                                                 "content_type": "image/png", "size": 15}})
    assert sent.type == 5
    await env.settled()
    original = env.fake.original(sent.token)
    assert original is not None and original.deleted  # the public "thinking…" is removed
    followup = env.fake.messages[env.fake.followups[sent.token][0]]
    assert followup.flags == 64 and followup.content
    alice = await env.account(ALICE)
    assert (await env.app.ledger.balance(alice.id)).total == 1000


async def test_a_failed_job_says_why_and_releases_the_points(env: Env,
                                                             engine: ScriptedEngine) -> None:
    engine.script(Script(steps=2, fail="CUDA out of memory"))
    sent = await env.discord.command(ALICE, "make", {"prompt": "a storm"})
    message = await env.finished(sent.token)
    assert message.content.startswith("❌ make failed: CUDA out of memory")
    assert "released" in message.content and message.files == {}
    alice = await env.account(ALICE)
    assert (await env.app.ledger.balance(alice.id)).total == 1000
    kinds = [r.kind for r in await env.app.ledger.history(alice.id)]
    assert "hold" in kinds and "release" in kinds and "capture" not in kinds


async def test_too_few_points_is_a_private_answer_with_cheaper_options(
    make_settings: Callable[..., Settings],
) -> None:
    async with discord_env(make_settings, ScriptedEngine(), allowance={"amount": 20}) as env:
        sent = await env.discord.command(ALICE, "make", {"prompt": "a castle", "batch": 4})
        await env.settled()
        followup = env.fake.messages[env.fake.followups[sent.token][0]]
        assert followup.flags == 64
        assert "That costs" in followup.content and "would fit" in followup.content
        assert env.fake.original(sent.token).deleted  # type: ignore[union-attr]
        alice = await env.account(ALICE)
        assert await env.app.jobs.list_for(alice.id) == []


async def test_stale_unknown_and_other_peoples_buttons(env: Env) -> None:
    sent = await env.discord.command(ALICE, "make", {"prompt": "a boat"})
    ids = buttons(await env.finished(sent.token))
    stale = await env.discord.press(ALICE, "r:" + "0" * 32)
    unknown = await env.discord.press(ALICE, "zz:1")
    theirs = await env.discord.press(BOB, f"r:{ids['r']}")
    theirs_image = await env.discord.press(BOB, f"u:{ids['u']}")
    assert "out of date" in stale.ephemeral_text
    assert "out of date" in unknown.ephemeral_text
    assert "belong to whoever made the image" in theirs.ephemeral_text
    assert "belong to whoever made the image" in theirs_image.ephemeral_text
    bob = await env.account(BOB)
    assert await env.app.jobs.list_for(bob.id) == []


async def test_discord_429_is_waited_out(env: Env) -> None:
    env.fake.rate_limit_once("PATCH", "@original", retry_after=0.05)  # the status edit
    sent = await env.discord.command(ALICE, "make", {"prompt": "a kite"})
    message = await env.finished(sent.token)
    assert image_of(message)
    statuses = [c.status for c in env.fake.calls_to("PATCH", sent.token)]
    assert statuses[0] == 429 and statuses[1] == 200


async def test_after_the_token_expires_the_result_goes_to_the_channel(
    env: Env, engine: ScriptedEngine, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine.script(Script(steps=10, delay=0.05))
    sent = await env.discord.command(ALICE, "make", {"prompt": "a slow sunset"})
    await env.original(sent.token)
    env.fake.expire(sent.token)  # as Discord does after 15 minutes
    posted = await _channel_message(env, "c-1")
    assert posted.content.startswith("<@111> ✅ make: done")
    assert len(posted.files) == 1 and set(buttons(posted)) == {
        "r", "u", "v", "zo", "z2", "d", "ca", "pl", "pu", "pr", "pd"}
    call = env.fake.calls_to("POST", "/channels/c-1/messages")[0]
    assert call.authorization == f"Bot {BOT_TOKEN}"
    assert "could not complete the response" in caplog.text  # the fallback was logged…
    assert BOT_TOKEN not in caplog.text  # …without the bot token, even at DEBUG
    assert all(sent.token not in r.getMessage() for r in caplog.records
               if r.levelno >= logging.INFO)  # and no interaction token at INFO and above


async def test_direct_messages_work_and_server_commands_say_where(env: Env) -> None:
    dm = Member("444", "dee")
    sent = await env.discord.command(dm, "make", {"prompt": "a quiet pond"})
    assert (await env.finished(sent.token)).content.startswith("✅ make: done")
    server = await env.discord.command(dm, "server")
    assert "changed in the server" in (await env.original(server.token)).content


async def _channel_message(env: Env, channel: str) -> Message:
    from tests.support.fake_discord_users import eventually

    found = await eventually(lambda: env.fake.channel(channel), what="a channel message")
    assert isinstance(found[0], Message)
    return found[0]


async def test_variations_rmbg_and_add_to_dataset_buttons(env: Env) -> None:
    sent = await env.discord.command(ALICE, "make", {"prompt": "a red barn", "width": 96,
                                                      "height": 96})
    ids = buttons(await env.finished(sent.token))
    varied = await env.discord.press(ALICE, f"v:{ids['v']}")
    variation = await env.app.jobs.get(buttons(await env.finished(varied.token))["r"])
    assert variation.tool == "img2img" and variation.inputs["image"] == ids["v"]
    assert variation.params["prompt"] == "a red barn" and variation.origin == "variation"
    url = env.fake.attach("barn.png", png(96, 96))
    cut = await env.discord.command(ALICE, "rmbg", attachments={"image": {
        "url": url, "filename": "barn.png", "content_type": "image/png", "size": 500}})
    cut_job = await env.app.jobs.get(buttons(await env.finished(cut.token))["r"])
    assert cut_job.tool == "rmbg"
    none_yet = await env.discord.press(ALICE, f"d:{ids['d']}")
    assert none_yet.body == {"type": 5, "data": {"flags": 64}}
    assert "no dataset yet" in (await env.original(none_yet.token)).content
    alice = await env.account(ALICE)
    ds = await env.app.datasets.create(alice.id, "barns")
    pick = await env.discord.press(ALICE, f"d:{ids['d']}")
    assert f"da:{ids['d']}" in (await env.original(pick.token)).custom_ids()
    chosen = await env.discord.press(ALICE, f"da:{ids['d']}", values=[ds.id])
    assert chosen.type == 6
    assert "Added to barns (1/" in (await env.original(chosen.token)).content
    stored = await env.app.datasets.get(alice.id, ds.id)
    assert [i.caption for i in stored.images] == ["a red barn"]
