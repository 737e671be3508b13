"""/train through modals, attachments and buttons, on the preview engine: a dataset made in
a modal, images uploaded with captions, readiness, quote, confirm — and the trained model
used by the next /make."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from stationthis.config import Settings
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import png

ALICE = Member("111", "alice")  # in direct messages
BOB = Member("222", "bob")
COLORS = [(30, 160, 40), (40, 180, 60), (20, 140, 30), (50, 170, 50), (35, 150, 45)]


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings) as found:  # the preview engine
        yield found


def attachments(env: Env, count: int, start: int = 1) -> dict[str, dict[str, Any]]:
    found = {}
    for n in range(start, start + count):
        url = env.fake.attach(f"leaf{n}.png", png(256, 256, COLORS[n % len(COLORS)]))
        found[f"image{n - start + 1}"] = {"url": url, "filename": f"leaf{n}.png",
                                          "content_type": "image/png", "size": 2000}
    return found


async def test_train_from_modal_to_a_model_used_by_make(env: Env) -> None:
    alice = await env.account(ALICE)
    await env.app.ledger.grant(alice.id, 5000, key="test:alice", memo="test")
    form = await env.discord.command(ALICE, "train", sub="create")
    assert form.type == 9 and form.body["data"]["custom_id"] == "mtc"
    created = await env.discord.submit_modal(ALICE, "mtc", {"name": "greenery",
                                                            "trigger": "zqgreen"})
    view = await env.original(created.token)
    assert view.embeds[0]["title"] == "📁 greenery" and "add 4 more images" in \
        view.embeds[0]["description"]
    not_ready = await env.discord.command(ALICE, "train", {"dataset": "greenery"}, sub="submit")
    assert "not ready" in (await env.original(not_ready.token)).content
    added = await env.discord.command(ALICE, "train", {"dataset": "greenery",
                                                       "caption": "green leaves"},
                                      sub="add", attachments=attachments(env, 3))
    assert "Images 3/20" in (await env.original(added.token)).embeds[0]["description"]
    more = await env.discord.command(ALICE, "train", {"dataset": "greenery"}, sub="add",
                                     attachments=attachments(env, 1, start=4))
    shown = await env.original(more.token)
    assert "caption image 4" in shown.embeds[0]["description"]
    ds = (await env.app.datasets.list_for(alice.id))[0]
    form = await env.discord.press(ALICE, f"tcap:{ds.id}")
    assert form.type == 9
    fields = [r["components"][0]["custom_id"] for r in form.body["data"]["components"]]
    assert ds.images[3].id in fields
    saved = await env.discord.submit_modal(ALICE, f"mcap:{ds.id}",
                                           {ds.images[3].id: "a green leaf"})
    ready = await env.original(saved.token)
    assert "ready to train" in ready.embeds[0]["description"]
    assert f"ts:{ds.id}" in ready.custom_ids()
    quote = await env.discord.command(ALICE, "train", {"dataset": "greenery", "steps": 100},
                                      sub="submit")
    quoted = await env.original(quote.token)
    assert "points" in quoted.content and f"tc:{ds.id}:100" in quoted.custom_ids()
    confirmed = await env.discord.press(ALICE, f"tc:{ds.id}:100")
    assert confirmed.type == 6
    done = await env.finished(confirmed.token, timeout=60)
    assert "Model **greenery** is ready" in done.content
    models = await env.original((await env.discord.command(ALICE, "models")).token)
    assert "zqgreen" in models.content
    made = await env.discord.command(ALICE, "make", {"prompt": "zqgreen a small house"})
    await env.finished(made.token)
    job = next(j for j in await env.app.jobs.list_for(alice.id) if j.tool == "make")
    assert job.params.get("loras") == ["greenery"]


async def test_train_bad_inputs_get_clear_answers(env: Env) -> None:
    too_many = await env.discord.command(ALICE, "train", {"dataset": "x"}, sub="add",
                                         attachments=attachments(env, 11))
    assert "At most 10 images" in too_many.ephemeral_text
    missing = await env.discord.command(ALICE, "train", {"dataset": "nothing"}, sub="view")
    assert "no dataset named 'nothing'" in (await env.original(missing.token)).content
    alice = await env.account(ALICE)
    ds = await env.app.datasets.create(alice.id, "mine")
    theirs = await env.discord.press(BOB, f"ts:{ds.id}")
    await env.settled()
    answer = env.fake.messages[env.fake.followups[theirs.token][-1]]
    assert answer.flags == 64 and "no such dataset" in answer.content.lower()
    assert await env.app.datasets.list_for((await env.account(BOB)).id) == []
