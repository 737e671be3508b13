"""Again: regenerate, variations, tweak, upscale and background removal of earlier work —
lineage, reused inputs, owner checks, dry-run quotes equal to the price charged, and the
ledger after every path (success, engine failure, cancel, refusal)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.errors import InsufficientPoints, InvalidInput, NotFound
from stationthis.core.jobs import Job
from stationthis.core.replies import CliReply, TelegramReply, WebReply
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine, png

NO_REFILL = {"interval_seconds": 4_000_000_000}  # no allowance refill during a test


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(allowance=NO_REFILL)


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("test", name))


async def ref_kinds(app: App, account: Account, job: Job) -> list[str]:
    rows = reversed(await app.ledger.history(account.id, 500))
    return [r.kind for r in rows if r.ref == job.ref]


async def balance(app: App, account: Account) -> int:
    return (await app.ledger.balance(account.id)).total


async def made(app: App, account: Account, **options: object) -> Job:
    job = await app.make_image.make(account, Request("make", {"prompt": "a red fox", **options}))
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "succeeded", done.error
    return done


async def finish(app: App, job: Job) -> Job:
    return await app.jobs.wait(job.id, timeout=10)


async def charged_as_quoted(app: App, account: Account, job: Job, quoted: int) -> None:
    """The dry run's price is what was held and captured; the ledger shows exactly that."""
    assert job.state == "succeeded", job.error
    assert quoted == job.quote == job.cost
    assert await ref_kinds(app, account, job) == ["hold", "capture", "release"]
    assert await app.ledger.verify(account.id)


# --- regenerate -----------------------------------------------------------------------------


async def test_regenerate_is_the_same_job_with_a_new_seed(app: App) -> None:
    alice = await user(app)
    group = await app.users.resolve(Identity("telegram", "-100"), kind="group")
    parent = await made(app, alice, seed=7, steps=30, width=768)
    quote = await app.again.quote_regenerate(alice, parent.id, group=group)
    before = await balance(app, alice)
    reply = TelegramReply(chat=5, message=8)
    job = await app.again.regenerate(alice, parent.id, reply=reply, group=group)
    assert (job.origin, job.parent_id, job.tool) == ("regenerate", parent.id, "make")
    assert job.reply == reply and job.group_id == group.id
    assert (await app.jobs.get(job.id)).reply == reply  # as stored
    assert job.params["seed"] != 7
    assert {k: v for k, v in job.params.items() if k != "seed"} == {
        k: v for k, v in parent.params.items() if k != "seed"
    }
    done = await finish(app, job)
    await charged_as_quoted(app, alice, done, quote.points)
    assert await balance(app, alice) == before - done.cost  # type: ignore[operator]


async def test_regenerate_a_failed_job_and_a_regenerate_that_fails(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    start = await balance(app, alice)
    engine.script(Script(fail="CUDA out of memory"), Script(), Script(fail="lost the GPU"))
    failed = await finish(app, await app.make_image.make(alice, Request("make", {"prompt": "x"})))
    assert failed.state == "failed"
    retried = await finish(app, await app.again.regenerate(alice, failed.id))
    assert retried.state == "succeeded" and retried.parent_id == failed.id
    again = await finish(app, await app.again.regenerate(alice, retried.id))
    assert again.state == "failed" and again.error == "lost the GPU"
    assert await ref_kinds(app, alice, failed) == ["hold", "release"]
    assert await ref_kinds(app, alice, retried) == ["hold", "capture", "release"]
    assert await ref_kinds(app, alice, again) == ["hold", "release"]
    assert await balance(app, alice) == start - retried.cost  # type: ignore[operator]
    assert await app.ledger.verify(alice.id)


async def test_regenerate_reuses_the_input_images_of_the_job(app: App) -> None:
    alice = await user(app)
    upload = await app.media.ingest(alice.id, png(96, 64))
    parent = await finish(app, await app.make_image.make(
        alice, Request("img2img", {"prompt": "a painting", "strength": 0.4},
                       images={"image": upload.id})))
    job = await finish(app, await app.again.regenerate(alice, parent.id))
    assert job.inputs == parent.inputs == {"image": upload.id}
    assert job.params["strength"] == 0.4 and (job.params["width"], job.params["height"]) == (96, 64)


async def test_regenerate_when_points_are_short_holds_nothing(
    make_settings: Callable[..., Settings], engine: ScriptedEngine
) -> None:
    from stationthis.bootstrap import build

    async with build(make_settings(allowance={"amount": 150, **NO_REFILL}),
                     engine=engine) as app:
        alice = await user(app)
        parent = await made(app, alice, width=1024, height=1024, batch=4)  # 4 × 30 = 120
        quote = await app.again.quote_regenerate(alice, parent.id)
        assert not quote.fits and quote.alternatives
        with pytest.raises(InsufficientPoints) as err:
            await app.again.regenerate(alice, parent.id)
        assert err.value.details["alternatives"]
        assert len(await app.jobs.list_for(alice.id)) == 1
        assert await balance(app, alice) == 150 - parent.cost  # type: ignore[operator]


# --- variations -----------------------------------------------------------------------------


async def test_a_variation_of_a_txt2img_output_is_img2img_with_its_prompt(app: App) -> None:
    alice = await user(app)
    parent = await made(app, alice, seed=3, steps=25, negative="blur", width=640)
    output = parent.outputs[0]
    quote = await app.again.quote_vary(alice, output, 0.3)
    job = await app.again.vary(alice, output, 0.3, reply=WebReply())
    assert (job.tool, job.origin, job.parent_id) == ("img2img", "variation", parent.id)
    assert job.inputs == {"image": output}
    assert job.params["prompt"] == "a red fox" and job.params["negative"] == "blur"
    assert job.params["strength"] == 0.3 and job.params["steps"] == 25
    assert (job.params["width"], job.params["height"]) == (640, 512)  # the output's size
    assert job.params["seed"] != 3 and job.reply == WebReply()
    await charged_as_quoted(app, alice, await finish(app, job), quote.points)


async def test_a_variation_of_an_img2img_output_keeps_its_tool_and_settings(app: App) -> None:
    alice = await user(app)
    upload = await app.media.ingest(alice.id, png(64, 64))
    first = await finish(app, await app.make_image.make(
        alice, Request("img2img", {"prompt": "a castle", "cfg": 9}, images={"image": upload.id})))
    job = await finish(app, await app.again.vary(alice, first.outputs[0], strength=0.8))
    assert job.tool == "img2img" and job.parent_id == first.id
    assert job.inputs == {"image": first.outputs[0]}
    assert (job.params["prompt"], job.params["cfg"], job.params["strength"]) == (
        "a castle", 9.0, 0.8)


async def test_a_variation_of_an_upscaled_output_finds_the_prompt_upstream(app: App) -> None:
    alice = await user(app)
    parent = await made(app, alice)
    up = await finish(app, await app.again.upscale(alice, parent.outputs[0], 2))
    job = await finish(app, await app.again.vary(alice, up.outputs[0]))
    assert job.params["prompt"] == "a red fox" and job.parent_id == up.id
    assert job.params["strength"] == 0.5


async def test_a_variation_of_an_upload_needs_a_prompt_and_fits_the_size_limits(
    app: App,
) -> None:
    alice = await user(app)
    upload = await app.media.ingest(alice.id, png(3000, 1500))
    with pytest.raises(InvalidInput, match="no prompt"):
        await app.again.vary(alice, upload.id)
    job = await app.again.vary(alice, upload.id, prompt="a beach at night")
    assert job.parent_id is None and job.params["prompt"] == "a beach at night"
    assert (job.params["width"], job.params["height"]) == (2048, 1024)
    await finish(app, job)
    with pytest.raises(InvalidInput, match="strength"):
        await app.again.vary(alice, upload.id, 1.5, prompt="x")


# --- tweak ----------------------------------------------------------------------------------


async def test_tweak_changes_one_parameter_and_keeps_the_seed(app: App) -> None:
    alice = await user(app)
    parent = await made(app, alice, seed=11)
    quote = await app.again.quote_tweak(alice, parent.id, steps="40")
    assert quote.points > parent.cost  # type: ignore[operator]
    job = await app.again.tweak(alice, parent.id, steps="40", reply=CliReply())
    assert (job.origin, job.parent_id, job.reply) == ("tweak", parent.id, CliReply())
    assert job.params == {**parent.params, "steps": 40}
    await charged_as_quoted(app, alice, await finish(app, job), quote.points)
    reseeded = await finish(app, await app.again.tweak(alice, parent.id, seed=-1, cfg=4.5))
    assert reseeded.params["seed"] != 11 and reseeded.params["cfg"] == 4.5


async def test_tweak_is_validated_before_anything_is_held(app: App) -> None:
    alice = await user(app)
    parent = await made(app, alice)
    before = await balance(app, alice)
    with pytest.raises(InvalidInput, match="steps"):
        await app.again.tweak(alice, parent.id, steps=100_000)
    with pytest.raises(InvalidInput, match="no option 'colour'"):
        await app.again.tweak(alice, parent.id, colour="red")
    with pytest.raises(InvalidInput, match="nothing to change"):
        await app.again.tweak(alice, parent.id)
    up = await finish(app, await app.again.upscale(alice, parent.outputs[0]))
    with pytest.raises(InvalidInput, match="size"):
        await app.again.tweak(alice, up.id, width=8)  # the price follows the real size
    assert await balance(app, alice) == before - up.cost  # type: ignore[operator]
    assert len(await app.jobs.list_for(alice.id)) == 2


async def test_tweak_can_swap_the_input_image(app: App) -> None:
    alice = await user(app)
    small, big = (await app.media.ingest(alice.id, png(64, 64)),
                  await app.media.ingest(alice.id, png(128, 96)))
    parent = await finish(app, await app.make_image.make(
        alice, Request("upscale", {"scale": 2}, images={"image": small.id})))
    job = await finish(app, await app.again.tweak(alice, parent.id, image=big.id, scale=4))
    assert job.inputs == {"image": big.id}
    assert (job.params["width"], job.params["height"], job.params["scale"]) == (128, 96, 4)
    theirs = await app.media.ingest((await user(app, "bob")).id, png())
    with pytest.raises(NotFound):
        await app.again.tweak(alice, parent.id, image=theirs.id)


# --- upscale and background removal ---------------------------------------------------------


async def test_upscale_and_rmbg_of_an_output_and_of_an_upload(app: App) -> None:
    alice = await user(app)
    parent = await made(app, alice)
    upload = await app.media.ingest(alice.id, png(100, 80))
    for source, parent_id in ((parent.outputs[0], parent.id), (upload.id, None)):
        for scale in (2, 4):
            quote = await app.again.quote_upscale(alice, source, scale)
            job = await app.again.upscale(alice, source, scale)
            assert (job.tool, job.origin, job.parent_id) == ("upscale", "upscale", parent_id)
            assert job.params["scale"] == scale and job.inputs == {"image": source}
            await charged_as_quoted(app, alice, await finish(app, job), quote.points)
        quote = await app.again.quote_remove_background(alice, source)
        job = await app.again.remove_background(alice, source)
        assert (job.tool, job.origin, job.parent_id) == ("rmbg", "rmbg", parent_id)
        await charged_as_quoted(app, alice, await finish(app, job), quote.points)
    with pytest.raises(InvalidInput, match="scale"):
        await app.again.upscale(alice, upload.id, 3)


async def test_upscale_with_the_preview_engine_really_upscales(preview_app: App) -> None:
    app = preview_app
    alice = await user(app)
    upload = await app.media.ingest(alice.id, png(120, 90))
    job = await finish(app, await app.again.upscale(alice, upload.id, 4))
    assert job.state == "succeeded", job.error
    big = await app.media.get(job.outputs[0])
    assert (big.width, big.height) == (480, 360)
    cut = await finish(app, await app.again.remove_background(alice, job.outputs[0]))
    image = Image.open(io.BytesIO(await app.media.read(await app.media.get(cut.outputs[0]))))
    assert image.mode == "RGBA" and image.size == (480, 360)


async def test_an_engine_failure_or_a_cancel_releases_the_hold(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    parent = await made(app, alice)
    before = await balance(app, alice)
    engine.script(Script(fail="upscaler missing"), Script(hang=True, delay=0.01))
    failed = await finish(app, await app.again.upscale(alice, parent.outputs[0], 2))
    assert failed.state == "failed"
    hanging = await app.again.vary(alice, parent.outputs[0])
    for _ in range(500):
        if (await app.jobs.get(hanging.id)).state == "running":
            break
        await asyncio.sleep(0.01)
    await app.jobs.cancel(hanging.id, owner_id=alice.id)
    assert (await finish(app, hanging)).state == "cancelled"
    for job in (failed, hanging):
        assert await ref_kinds(app, alice, job) == ["hold", "release"]
    assert await balance(app, alice) == before
    assert await app.ledger.verify(alice.id)


# --- ownership ------------------------------------------------------------------------------


async def test_someone_elses_job_or_image_does_not_exist(app: App) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    parent = await made(app, alice)
    upload = await app.media.ingest(alice.id, png())
    before = await balance(app, bob)
    attempts = [
        app.again.regenerate(bob, parent.id),
        app.again.quote_regenerate(bob, parent.id),
        app.again.tweak(bob, parent.id, steps=30),
        app.again.quote_tweak(bob, parent.id, steps=30),
        app.again.vary(bob, parent.outputs[0], prompt="mine now"),
        app.again.quote_vary(bob, parent.outputs[0]),
        app.again.upscale(bob, upload.id, 2),
        app.again.quote_upscale(bob, parent.outputs[0], 2),
        app.again.remove_background(bob, upload.id),
        app.again.quote_remove_background(bob, parent.outputs[0]),
        app.again.regenerate(bob, "no-such-job"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound) as err:
            await attempt
        assert "alice" not in err.value.message and parent.id not in err.value.message
    assert await app.jobs.list_for(bob.id) == []
    assert await balance(app, bob) == before
