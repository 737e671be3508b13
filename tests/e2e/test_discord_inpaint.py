"""/inpaint on Discord: an image and its mask attached, the region repainted on the preview
engine, the 🖌 Vary region link under the result; a bad mask refused privately, for free."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.platforms.discord.ids import unpack
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import png

ALICE = Member("311", "alice", guild="g-1", channel="c-1")
WEB = "https://studio.example"


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, notify_progress_interval=0, public_url=WEB) as found:
        yield found


def mask(width: int, height: int, box: tuple[int, int, int, int] | None) -> bytes:
    img = Image.new("L", (width, height), 0)
    if box is not None:
        img.paste(255, box)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def attached(env: Env, name: str, data: bytes) -> dict[str, object]:
    url = env.fake.attach(name, data)
    return {"url": url, "filename": name, "content_type": "image/png", "size": len(data)}


async def refused(env: Env, image: bytes, mask_data: bytes) -> str:
    sent = await env.discord.command(ALICE, "inpaint", {"prompt": "a hat"}, attachments={
        "image": attached(env, "photo.png", image), "mask": attached(env, "mask.png", mask_data)})
    await env.settled()
    followup = env.fake.messages[env.fake.followups[sent.token][0]]
    assert followup.flags == 64  # only the user sees it
    return followup.content


async def test_inpaint_with_two_attachments_repaints_the_masked_region(env: Env) -> None:
    image = png(160, 96, (10, 120, 200))
    sent = await env.discord.command(ALICE, "inpaint", {"prompt": "a red kite", "steps": 25},
                                     attachments={"image": attached(env, "sky.png", image),
                                                  "mask": attached(env, "mask.png", mask(
                                                      160, 96, (40, 20, 120, 76)))})
    assert sent.body == {"type": 5}
    message = await env.finished(sent.token)
    assert message.content.startswith("✅ inpaint: done"), message.content
    job = await env.app.jobs.get(next(unpack(c)[1][0] for c in message.custom_ids()
                                      if c.startswith("r:")))
    assert job.tool == "inpaint" and job.params["prompt"] == "a red kite"
    assert job.params["steps"] == 25 and set(job.inputs) == {"image", "mask"}
    out = np.asarray(Image.open(io.BytesIO(next(iter(message.files.values())))).convert("RGB"))
    assert out.shape == (96, 160, 3)
    assert (out[:20] == (10, 120, 200)).all() and (out[20:76, 40:120] != (10, 120, 200)).any()
    media = job.outputs[0]
    links = [c for row in message.components for c in row["components"] if c.get("style") == 5]
    assert links == [{"type": 2, "style": 5, "label": "🖌 Vary region",
                      "url": f"{WEB}/media/{media}/inpaint"}]


async def test_a_bad_mask_is_refused_privately_and_costs_nothing(env: Env) -> None:
    image = png(64, 48)
    assert "mask is 48×64 but the image is 64×48" in await refused(
        env, image, mask(48, 64, (0, 0, 8, 8)))
    assert "empty" in await refused(env, image, mask(64, 48, None))
    assert "The mask: not a PNG" in await refused(env, image, b"\x89PNG not really")
    alice = await env.account(ALICE)
    assert (await env.app.ledger.balance(alice.id)).total == 1000
    assert await env.app.jobs.list_for(alice.id) == []
