"""/regen, /seed and /card on Discord, against the fake Discord REST: the last job and
``which:2``; a clear answer with no job yet; one user never reaches another's jobs; a /regen
the balance cannot pay says by how much; the commands are in the registration list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.platforms.discord.commands import commands
from tests.support.fake_discord import Message
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import ScriptedEngine

ALICE = Member("181", "alice", guild="g-18", channel="c-18")
BOB = Member("182", "bob", guild="g-18", channel="c-18")


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, ScriptedEngine()) as found:
        yield found


async def said(env: Env, who: Member, name: str, options: dict | None = None) -> str:  # type: ignore[type-arg]
    """What the command answered: its response, or the ephemeral follow-up of a refusal."""
    sent = await env.discord.command(who, name, options)
    await env.settled()
    followups = env.fake.followups.get(sent.token)
    if followups:
        return env.fake.messages[followups[-1]].content
    return (await env.original(sent.token)).content


async def make(env: Env, who: Member, prompt: str) -> Message:
    sent = await env.discord.command(who, "make", {"prompt": prompt})
    return await env.finished(sent.token)


async def on_message(env: Env, who: Member, name: str, message: Message) -> str:
    """A message command (the message's menu → Apps → ``name``), as Discord sends it."""
    data = {"id": "cmd-m", "name": name, "type": 3, "target_id": message.id,
            "resolved": {"messages": {message.id: {
                "id": message.id, "channel_id": message.channel, "content": message.content,
                "components": message.components}}}}
    sent = await env.discord.post(env.discord.base(2, who, data))
    await env.settled()
    followups = env.fake.followups.get(sent.token)
    if followups:
        return env.fake.messages[followups[-1]].content
    return (await env.original(sent.token)).content


def test_the_commands_are_registered() -> None:
    names = {c["name"]: c for c in commands()}
    for name in ("regen", "seed", "card"):
        assert names[name]["options"][0]["name"] == "which"
    for name in ("Regenerate", "Seed", "Card"):
        assert names[name]["type"] == 3  # on a result: its menu → Apps


async def test_with_no_job_yet_each_says_so(env: Env) -> None:
    answers = [await said(env, ALICE, name) for name in ("regen", "seed", "card")]
    assert all("You have no images yet" in a and "/make" in a for a in answers), answers
    assert await env.app.jobs.list_for((await env.account(ALICE)).id) == []


async def test_seed_card_and_regen_of_the_last_jobs(env: Env) -> None:
    await make(env, ALICE, "a red fox")
    await make(env, ALICE, "a blue owl")
    alice = await env.account(ALICE)
    owl, fox = await env.app.jobs.recent(alice.id, limit=2)
    seed_last = await said(env, ALICE, "seed")
    seed_before = await said(env, ALICE, "seed", {"which": 2})
    card = await said(env, ALICE, "card", {"which": 2})
    regen = await env.discord.command(ALICE, "regen")
    result = await env.finished(regen.token)
    again = (await env.app.jobs.recent(alice.id, limit=1))[0]
    assert f"Seed {owl.params['seed']}" in seed_last
    assert f"Seed {fox.params['seed']}" in seed_before
    assert "reproducibility card" in card and f"seed:   {fox.params['seed']}" in card
    assert card.count("```") == 2  # the card is a code block
    assert result.content.startswith("✅")
    assert again.parent_id == owl.id and again.origin == "regenerate"
    assert again.params["prompt"] == "a blue owl"


async def test_one_user_never_reaches_anothers_jobs(env: Env) -> None:
    await make(env, ALICE, "a secret garden")
    answers = [await said(env, BOB, name) for name in ("seed", "card", "regen")]
    alice = await env.account(ALICE)
    [job] = await env.app.jobs.recent(alice.id)
    assert all("You have no images yet" in a for a in answers), answers
    assert not any(str(job.params["seed"]) in a or "secret garden" in a for a in answers)
    assert await env.app.jobs.recent((await env.account(BOB)).id) == []


async def test_message_commands_on_a_result_reach_only_ones_own(env: Env) -> None:
    fox = await make(env, ALICE, "a red fox")
    await make(env, ALICE, "a blue owl")
    alice = await env.account(ALICE)
    fox_job = (await env.app.jobs.recent(alice.id, limit=2))[1]
    seed = await on_message(env, ALICE, "Seed", fox)
    card = await on_message(env, ALICE, "Card", fox)
    theirs = [await on_message(env, BOB, name, fox) for name in ("Seed", "Card", "Regenerate")]
    assert f"Seed {fox_job.params['seed']}" in seed
    assert "a red fox" in card and "reproducibility card" in card
    assert all("someone else's" in a for a in theirs), theirs
    assert not any(str(fox_job.params["seed"]) in a for a in theirs)
    assert await env.app.jobs.recent((await env.account(BOB)).id) == []


async def test_a_regen_the_balance_cannot_pay_says_by_how_much(env: Env) -> None:
    await make(env, ALICE, "a small boat")
    alice = await env.account(ALICE)
    [job] = await env.app.jobs.recent(alice.id)
    balance = await env.app.ledger.balance(alice.id)
    keep = int(job.quote) - 3
    async with env.app.db.write() as conn:  # as if other jobs held the rest
        await env.app.ledger.hold(conn, alice.id, balance.total - keep, ref="test:other")
    answer = await said(env, ALICE, "regen")
    assert f"That costs {job.quote} points; {keep} are available (3 short)" in answer
    assert len(await env.app.jobs.recent(alice.id)) == 1
