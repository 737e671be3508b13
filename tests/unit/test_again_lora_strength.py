"""A LoRA's strength survives "again": a job made with ``<lora:Name:0.3>`` (or
``loras=Name:0.3``) and then regenerated or tweaked runs the LoRA at 0.3 again, not at full
strength — the same seed gives the same image."""

from __future__ import annotations

import io

from PIL import Image

from stationthis.core.jobs import Job
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request


async def user(app: App) -> Account:
    account = await app.users.resolve(Identity("test", "alice"))
    await app.ledger.grant(account.id, 5000, key="test:alice")
    return account


async def done(app: App, job: Job) -> Job:
    finished = await app.jobs.wait(job.id, timeout=30)
    assert finished.state == "succeeded", finished.error
    return finished


async def pixels(app: App, job: Job) -> bytes:
    data = await app.media.read(await app.media.get(job.outputs[0]))
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


async def test_a_tagged_strength_is_carried_by_regenerate_and_tweak(preview_app: App) -> None:
    app = preview_app
    alice = await user(app)
    first = await done(app, await app.make_image.make(alice, Request("make", {
        "prompt": "a harbour <lora:preview-ink:0.3>", "seed": 7, "steps": 4})))
    assert first.params["lora_scales"] == {"preview-ink": 0.3}

    again = await done(app, await app.again.regenerate(alice, first.id))
    assert again.params["lora_scales"] == {"preview-ink": 0.3}
    assert again.params["server_loras"] == {"preview-ink": "preview-ink.safetensors"}
    assert again.params["seed"] != first.params["seed"]

    same = await done(app, await app.again.tweak(alice, first.id, seed=7))
    assert same.params["lora_scales"] == {"preview-ink": 0.3}
    assert await pixels(app, same) == await pixels(app, first)
    full = await done(app, await app.make_image.make(alice, Request("make", {
        "prompt": "a harbour <lora:preview-ink>", "seed": 7, "steps": 4})))
    assert await pixels(app, full) != await pixels(app, first)  # the strength shows


async def test_a_strength_given_in_loras_is_carried_too(preview_app: App) -> None:
    app = preview_app
    alice = await user(app)
    first = await done(app, await app.make_image.make(alice, Request("make", {
        "prompt": "a harbour", "loras": ["preview-neon:0.5", "preview-ink"], "steps": 4})))
    again = await done(app, await app.again.regenerate(alice, first.id))
    assert again.params["lora_scales"] == {"preview-neon": 0.5}
    assert sorted(again.params["loras"]) == ["preview-ink", "preview-neon"]
