"""Wildcard lists on Discord through the signed endpoint and the fake Discord: /wildcard
saves one from name and values, /wildcards lists it, ``__name__`` in /make's prompt draws
from it, remove: true removes it; the server's lists are saved only by members with Manage
Server, and drawn from by every member."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import ScriptedEngine

ALICE = Member("321", "alice", guild="g-4", channel="c-4")
MANAGER = Member("322", "manager", guild="g-4", channel="c-4", permissions=1 << 5)


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, ScriptedEngine(), notify_progress_interval=0) as found:
        yield found


async def test_save_list_use_and_remove_a_wildcard_list(env: Env) -> None:
    sent = await env.discord.command(ALICE, "wildcard", {"name": "Colours",
                                                         "values": "teal | teal:3"})
    saved = await env.original(sent.token)
    assert saved.content == ("Saved. 🃏 `__colours__` — 2 items: teal | teal:3\n"
                             "Use it: `/make prompt:a __colours__ fox`")
    listed = await env.original((await env.discord.command(ALICE, "wildcards", {})).token)
    assert "`__colours__` — teal, teal" in listed.content
    shown = await env.original((await env.discord.command(
        ALICE, "wildcard", {"name": "colours"})).token)
    assert shown.content.startswith("🃏 `__colours__` — 2 items")
    sent = await env.discord.command(ALICE, "make", {"prompt": "a __colours__ fox"})
    await env.finished(sent.token)
    account = await env.account(ALICE)
    [job] = await env.app.jobs.recent(account.id, limit=5)
    assert job.params["prompt"] == "a teal fox"
    removed = await env.original((await env.discord.command(
        ALICE, "wildcard", {"name": "colours", "remove": True})).token)
    assert removed.content == "Removed the wildcard list `__colours__`."
    assert env.app.styles is not None
    assert (await env.app.styles.shelf(account)).lists == []


async def test_the_servers_lists_need_manage_server(env: Env) -> None:
    body = {"name": "beasts", "values": "owl, owl:2", "server": True}
    refused = await env.original((await env.discord.command(ALICE, "wildcard", body)).token)
    assert refused.content == ("Only members with the Manage Server permission can change "
                               "the server's wildcard lists.")
    saved = await env.original((await env.discord.command(MANAGER, "wildcard", body)).token)
    assert saved.content.startswith("Saved. 🃏 `__beasts__` (server) — 2 items: owl | owl:2")
    sent = await env.discord.command(ALICE, "make", {"prompt": "an __beasts__ at night"})
    await env.finished(sent.token)
    [job] = await env.app.jobs.recent((await env.account(ALICE)).id, limit=5)
    assert job.params["prompt"] == "an owl at night"
    listed = await env.original((await env.discord.command(ALICE, "wildcards", {})).token)
    assert "The server's wildcard lists" in listed.content and "__beasts__" in listed.content
    removal = await env.original((await env.discord.command(
        ALICE, "wildcard", {"name": "beasts", "server": True, "remove": True})).token)
    assert "Manage Server" in removal.content
    unknown = await env.original((await env.discord.command(
        ALICE, "wildcard", {"name": "beests"})).token)
    assert "There is no wildcard list 'beests' (yours: beasts)" in unknown.content
