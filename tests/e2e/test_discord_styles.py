"""Styles on Discord through the signed endpoint and the fake Discord: /style saves one from
its options, /styles lists it, `--style` in /make's prompt makes the job it says; the
server's styles are saved only by members with Manage Server, and used by every member."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import ScriptedEngine

ALICE = Member("311", "alice", guild="g-3", channel="c-3")
MANAGER = Member("312", "manager", guild="g-3", channel="c-3", permissions=1 << 5)


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, ScriptedEngine(), notify_progress_interval=0) as found:
        yield found


async def test_save_list_and_use_a_style(env: Env) -> None:
    sent = await env.discord.command(ALICE, "style", {
        "name": "Noir", "template": "film noir photo of {prompt}", "negative": "colour",
        "steps": 12, "ar": "16:9"})
    saved = await env.original(sent.token)
    assert saved.content.startswith("Saved. 🎨 **noir**: film noir photo of {prompt}")
    listed = await env.original((await env.discord.command(ALICE, "styles", {})).token)
    assert "**noir** — film noir photo of {prompt}" in listed.content
    sent = await env.discord.command(ALICE, "make", {"prompt": "a fox --style noir"})
    await env.finished(sent.token)
    [job] = await env.app.jobs.recent((await env.account(ALICE)).id, limit=5)
    assert job.params["prompt"] == "film noir photo of a fox"
    assert (job.params["negative"], job.params["steps"]) == ("colour", 12)
    assert (job.params["width"], job.params["height"]) == (680, 384)


async def test_the_servers_styles_need_manage_server(env: Env) -> None:
    body = {"name": "pastel", "template": "soft pastel, {prompt}", "server": True}
    refused = await env.original((await env.discord.command(ALICE, "style", body)).token)
    assert "Manage Server" in refused.content
    saved = await env.original((await env.discord.command(MANAGER, "style", body)).token)
    assert saved.content.startswith("Saved. 🎨 **pastel** (server)")
    sent = await env.discord.command(ALICE, "make", {"prompt": "an owl --style pastel"})
    await env.finished(sent.token)
    [job] = await env.app.jobs.recent((await env.account(ALICE)).id, limit=5)
    assert job.params["prompt"] == "soft pastel, an owl"
    unknown = await env.discord.command(ALICE, "make", {"prompt": "an owl --style pastle"})
    await env.settled()
    answer = env.fake.messages[env.fake.followups[unknown.token][0]]
    assert answer.flags == 64  # only the asker sees it
    assert "no style 'pastle' (your styles: pastel)" in answer.content
    assert len(await env.app.jobs.recent((await env.account(ALICE)).id, limit=5)) == 1
