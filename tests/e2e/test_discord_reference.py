"""/ref on Discord: an attached reference image followed by a new picture on the preview
engine, every kind; without an image or a prompt it says how, privately and for free; a
ComfyUI server that lacks a kind's node refuses it by name and nothing is charged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from stationthis.config import Settings
from stationthis.platforms.discord.commands import commands
from stationthis.platforms.discord.ids import unpack
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import png
from tests.unit.test_comfyui_engine import engine_for

ALICE = Member("411", "alice", guild="g-1", channel="c-1")


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, notify_progress_interval=0) as found:
        yield found


def attached(env: Env, name: str, data: bytes) -> dict[str, object]:
    url = env.fake.attach(name, data)
    return {"url": url, "filename": name, "content_type": "image/png", "size": len(data)}


async def private_answer(env: Env, options: dict[str, Any],
                         attachments: dict[str, Any] | None = None) -> str:
    sent = await env.discord.command(ALICE, "ref", options, attachments=attachments or {})
    await env.settled()
    followup = env.fake.messages[env.fake.followups[sent.token][0]]
    assert followup.flags == 64  # only the user sees it
    return followup.content


def test_ref_is_registered_with_its_kinds() -> None:
    ref = next(c for c in commands() if c["name"] == "ref")
    options = {o["name"]: o for o in ref["options"]}
    assert options["image"]["type"] == 11 and options["image"]["required"]
    assert [c["value"] for c in options["kind"]["choices"]] == ["canny", "pose", "depth", "style"]


@pytest.mark.parametrize(("kind", "tool"), [(None, "reference"), ("pose", "reference-pose"),
                                            ("depth", "reference-depth"),
                                            ("style", "reference-style")])
async def test_ref_with_an_attached_image_follows_it(env: Env, kind: str | None,
                                                     tool: str) -> None:
    options: dict[str, Any] = {"prompt": "a castle at dusk", "strength": 0.5}
    if kind:
        options["kind"] = kind
    sent = await env.discord.command(ALICE, "ref", options, attachments={
        "image": attached(env, "sketch.png", png(160, 96, (30, 60, 200)))})
    assert sent.body == {"type": 5}
    message = await env.finished(sent.token)
    assert message.content.startswith(f"✅ {tool}: done"), message.content
    job = await env.app.jobs.get(next(unpack(c)[1][0] for c in message.custom_ids()
                                      if c.startswith("r:")))
    assert job.tool == tool and job.params["prompt"] == "a castle at dusk"
    assert job.params["strength"] == 0.5 and set(job.inputs) == {"image"}
    assert (job.params["width"], job.params["height"]) == (160, 96)


async def test_ref_without_an_image_or_a_prompt_says_how_for_free(env: Env) -> None:
    how = await private_answer(env, {"prompt": "a castle"})
    assert "follows a reference image" in how and "kind:pose" in how
    assert all(kind in how for kind in ("canny", "pose", "depth", "style"))
    image = {"image": attached(env, "sketch.png", png(64, 64))}
    assert "Say what to draw" in await private_answer(env, {"prompt": "  "}, image)
    assert "Unknown reference kind 'sketchy'" in await private_answer(
        env, {"prompt": "a castle", "kind": "sketchy"}, image)
    alice = await env.account(ALICE)
    assert (await env.app.ledger.balance(alice.id)).total == 1000
    assert await env.app.jobs.list_for(alice.id) == []


async def test_a_server_lacking_the_depth_node_refuses_it_by_name_for_free(
    make_settings: Callable[..., Settings]
) -> None:
    async with FakeComfyUI() as comfy, discord_env(make_settings, engine=engine_for(comfy.url),
                                                   notify_progress_interval=0) as env:
        sent = await env.discord.command(ALICE, "ref", {"prompt": "a valley", "kind": "depth"},
                                         attachments={"image": attached(env, "v.png",
                                                                        png(96, 64))})
        message = await env.finished(sent.token)
        alice = await env.account(ALICE)
        assert (await env.app.ledger.balance(alice.id)).total == 1000
    assert message.content.startswith("❌ reference-depth failed"), message.content
    assert "DepthAnythingPreprocessor" in message.content
    assert "comfyui_controlnet_aux" in message.content
