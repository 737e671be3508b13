"""Rate limits never stop normal work on Discord: make, upscale, balance, images added to a
dataset one command at a time, the training confirmed — with the default limits, never a
"try again"; a flood of job starts is still refused, each with when to retry; reads meet
only the flood cap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stationthis.config import Settings
from stationthis.platforms.discord.ids import unpack
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member, Sent
from tests.support.scripted import ScriptedEngine, png

ALICE = Member("171", "alice", guild="g-17", channel="c-17")
BOB = Member("172", "bob", guild="g-17", channel="c-17")
DEFAULT_BURST = Settings.model_fields["discord_rate_burst"].default


def ids_of(custom_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for custom_id in custom_ids:
        action, parts = unpack(custom_id)
        found.setdefault(action, parts[0] if parts else "")
    return found


def everything_said(env: Env, sent: list[Sent]) -> list[str]:
    """Every answer: the immediate ones and every message the bot posted or edited."""
    immediate = [str((s.body.get("data") or {}).get("content") or "") for s in sent
                 if isinstance(s.body, dict)]
    return immediate + [m.content for m in env.fake.messages.values()]


def image(env: Env, n: int) -> dict[str, dict[str, Any]]:
    url = env.fake.attach(f"p{n}.png", png(256, 256, (20 * n, 150, 40 + 10 * n)))
    return {"image1": {"url": url, "filename": f"p{n}.png", "content_type": "image/png",
                       "size": 2000}}


async def test_a_normal_session_is_never_told_to_try_again(
    make_settings: Callable[..., Settings]
) -> None:
    async with discord_env(make_settings, discord_rate_burst=DEFAULT_BURST,
                           new_user_grant=5000) as env:  # the preview engine, default limits
        sent = [await env.discord.command(ALICE, "make", {"prompt": "a lighthouse"})]
        made = await env.finished(sent[-1].token, timeout=30)
        sent.append(await env.discord.press(ALICE, f"u:{ids_of(made.custom_ids())['u']}"))
        await env.finished(sent[-1].token, timeout=30)
        sent.append(await env.discord.command(ALICE, "balance"))
        await env.original(sent[-1].token)
        sent.append(await env.discord.command(ALICE, "train", sub="create"))
        sent.append(await env.discord.submit_modal(ALICE, "mtc", {"name": "lamp",
                                                                  "trigger": "zqlamp"}))
        await env.original(sent[-1].token)
        for n in range(8):  # one image per command, as people add them
            sent.append(await env.discord.command(
                ALICE, "train", {"dataset": "lamp", "caption": f"lamp {n}"}, sub="add",
                attachments=image(env, n)))
            shown = await env.original(sent[-1].token)
            assert f"Images {n + 1}/" in shown.embeds[0]["description"], shown
        sent.append(await env.discord.command(ALICE, "train", {"dataset": "lamp",
                                                               "steps": 100}, sub="submit"))
        quoted = await env.original(sent[-1].token)
        [confirm] = [c for c in quoted.custom_ids() if c.startswith("tc:")]
        sent.append(await env.discord.press(ALICE, confirm))
        done = await env.finished(sent[-1].token, timeout=60)
        said = everything_said(env, sent)
    assert "is ready" in done.content
    assert not [t for t in said if "try again" in t.lower()], said


async def test_a_flood_of_job_starts_is_refused_with_when_to_retry(
    make_settings: Callable[..., Settings]
) -> None:
    async with discord_env(make_settings, ScriptedEngine(), discord_rate_burst=DEFAULT_BURST,
                           discord_rate_per_minute=0.01, max_queued_per_user=50,
                           new_user_grant=100_000) as env:
        sent = [await env.discord.command(ALICE, "make", {"prompt": f"flood {n}"})
                for n in range(30)]
        await env.settled()
        refusals = [env.fake.messages[ids[-1]].content
                    for s in sent if (ids := env.fake.followups.get(s.token))]
        jobs = await env.app.jobs.list_for((await env.account(ALICE)).id)
        other = await env.discord.command(BOB, "make", {"prompt": "not slowed"})
        await env.finished(other.token)
    assert len(jobs) == DEFAULT_BURST < 30
    assert len(refusals) == 30 - DEFAULT_BURST  # each interaction is answered
    assert all("faster than I can take them: try again in" in r for r in refusals)


async def test_reads_meet_only_the_flood_cap(make_settings: Callable[..., Settings]) -> None:
    async with discord_env(make_settings, ScriptedEngine(), discord_rate_burst=1,
                           discord_rate_per_minute=0.01, discord_flood_burst=5) as env:
        answers = [await env.discord.command(ALICE, "balance") for _ in range(7)]
        other = await env.discord.command(BOB, "balance")
        await env.settled()
    assert [a.type for a in answers] == [5, 5, 5, 5, 5, 4, 4]  # reads pass the job limit
    assert "Slow down" in answers[-1].ephemeral_text
    assert "try again in" in answers[-1].ephemeral_text.lower()
    assert other.type == 5  # one user's flood slows no one else
