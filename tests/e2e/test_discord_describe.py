"""/describe and /loras on Discord, on the preview engine: an attached picture described into
prompts with ▶️ buttons, one press makes that prompt (read back from the job, not the
button); someone else's ▶️ is refused privately and costs nothing; /loras lists the server's
LoRAs with how to use them; both are registered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.platforms.discord.commands import commands
from stationthis.platforms.discord.ids import unpack
from stationthis.workflows import describe as describing
from tests.support.fake_discord import Message
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member, eventually
from tests.support.scripted import png

ALICE = Member("511", "alice", guild="g-5", channel="c-5")
BOB = Member("512", "bob", guild="g-5", channel="c-5")


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, notify_progress_interval=0) as found:
        yield found


async def described(env: Env, token: str) -> Message:
    await env.settled()

    def done() -> Message | None:
        found = env.fake.original(token)
        return found if found and found.content.startswith(("📝", "❌")) else None

    message = await eventually(done, 15.0, what="the prompts")
    assert isinstance(message, Message)
    return message


def test_describe_and_loras_are_registered() -> None:
    found = {c["name"]: c for c in commands()}
    image = {o["name"]: o for o in found["describe"]["options"]}["image"]
    assert image["type"] == 11 and image["required"]
    assert [o["name"] for o in found["loras"]["options"]] == ["page"]


async def test_describe_then_run_a_prompt_and_another_users_press_is_refused(
    env: Env,
) -> None:
    url = env.fake.attach("lake.png", png(160, 96, (30, 90, 200)))
    sent = await env.discord.command(ALICE, "describe", attachments={"image": {
        "url": url, "filename": "lake.png", "content_type": "image/png", "size": 900}})
    assert sent.body == {"type": 5}
    message = await described(env, sent.token)
    runs = [c for c in message.custom_ids() if c.startswith("dr:")]
    job_id = unpack(runs[0])[1][0]
    job = await env.app.jobs.get(job_id)
    prompts = await describing.prompts(env.app.media, job)
    assert job.tool == "describe" and job.state == "succeeded"
    assert 3 <= len(prompts) <= 4 and len(runs) == len(prompts)
    assert all(f"{n}. {p[:30]}" in message.content for n, p in enumerate(prompts, 1))

    theirs = await env.discord.press(BOB, runs[2])
    assert "belong to whoever made" in theirs.ephemeral_text
    bob = await env.account(BOB)
    assert await env.app.jobs.list_for(bob.id) == []
    assert (await env.app.ledger.balance(bob.id)).total == 1000

    pressed = await env.discord.press(ALICE, runs[2])
    assert pressed.body == {"type": 5}
    made = await env.finished(pressed.token)
    assert made.content.startswith("✅ make"), made.content
    new_job = await env.app.jobs.get(next(unpack(c)[1][0] for c in made.custom_ids()
                                          if c.startswith("r:")))
    assert new_job.params["prompt"] == prompts[2]  # the job's third prompt, read back


async def test_describe_without_an_image_says_how_for_free(env: Env) -> None:
    sent = await env.discord.command(ALICE, "describe", {})
    await env.settled()
    followup = env.fake.messages[env.fake.followups[sent.token][0]]
    assert followup.flags == 64 and "prompts for a picture" in followup.content
    alice = await env.account(ALICE)
    assert await env.app.jobs.list_for(alice.id) == []


async def test_loras_lists_the_servers_loras(env: Env) -> None:
    assert env.app.server_loras is not None
    await env.app.server_loras.set("preview-neon.safetensors", name="Neon",
                                   triggers=["neonlit"], price_factor=2)
    sent = await env.discord.command(ALICE, "loras", {})
    message = await env.original(sent.token)
    assert "• Neon · <lora:Neon:0.8> · triggers: neonlit · price ×2" in message.content
    assert "preview-ink" in message.content
