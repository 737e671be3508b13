"""Datasets and trainings: every dataset operation and readiness rule, quotes and holds, a
preview-engine training whose model changes later images, failures, cancel and access."""

from __future__ import annotations

import asyncio
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from stationthis.core.errors import (
    Conflict,
    InsufficientPoints,
    InvalidImage,
    InvalidInput,
    NotFound,
)
from stationthis.core.events import Event, JobProgressed
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine, png


def photo(color: tuple[int, int, int], size: tuple[int, int] = (640, 480), noise: int = 0) -> bytes:
    rng = np.random.default_rng(sum(color) + noise)
    base = np.zeros((size[1], size[0], 3), np.int16) + np.array(color, np.int16)
    pixels = np.clip(base + rng.integers(-25, 25, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


async def user(app: App, name: str = "alice", points: int = 5000) -> Account:
    account = await app.users.resolve(Identity("test", name))
    if points:
        await app.ledger.grant(account.id, points, key=f"test:{name}")
    return account


async def ready_dataset(app: App, owner: Account, color: tuple[int, int, int] = (40, 170, 60),
                        n: int = 4) -> str:
    dataset = await app.datasets.create(owner.id, "Green things", trigger="grnz")
    await app.datasets.add_images(
        owner.id, dataset.id, [(photo(color, noise=i), f"photo {i}") for i in range(n)]
    )
    return dataset.id


async def test_a_dataset_is_built_and_says_why_it_is_not_ready(app: App) -> None:
    alice = await user(app)
    dataset = await app.datasets.create(alice.id, "  My   cat ", trigger="mycat")
    assert dataset.name == "My cat"
    view = await app.training.view(alice, dataset.id)
    assert not view.readiness.ready
    assert view.readiness.reason == "add 4 more images (at least 4 are needed)"

    added = await app.datasets.add_images(alice.id, dataset.id, [
        (photo((200, 50, 50)), "a cat on a sofa"), (photo((50, 50, 200)), None),
        (photo((50, 200, 50)), "mycat in the garden"), (photo((90, 90, 90)), None),
    ])
    view = await app.training.view(alice, dataset.id)
    assert (view.readiness.images, view.readiness.captioned) == (4, 2)
    assert view.readiness.reason == "caption images 2, 4"
    # Normalised to the training resolution: a square of at most 512 px.
    item = await app.media.get(added[0].media_id)
    assert (item.width, item.height) == (480, 480)

    await app.datasets.set_caption(alice.id, dataset.id, added[1].id, "a blue cat")
    await app.datasets.set_caption(alice.id, dataset.id, added[3].id, "a grey cat")
    view = await app.training.view(alice, dataset.id)
    assert view.readiness.ready and view.readiness.reason == "ready to train"
    images = view.dataset.images
    assert view.dataset.caption_for(images[0]) == "mycat, a cat on a sofa"  # trigger added
    assert view.dataset.caption_for(images[2]) == "mycat in the garden"  # already there

    await app.datasets.set_caption(alice.id, dataset.id, added[3].id, None)  # clear
    await app.datasets.remove_image(alice.id, dataset.id, added[0].id)
    view = await app.training.view(alice, dataset.id)
    assert view.readiness.images == 3 and not view.readiness.ready


async def test_slots_names_and_bad_images(app: App) -> None:
    alice = await user(app)
    dataset = await app.datasets.create(alice.id, "set")
    with pytest.raises(Conflict):
        await app.datasets.create(alice.id, "SET")
    with pytest.raises(InvalidInput, match="free slots of 20"):
        await app.datasets.add_images(alice.id, dataset.id, [(photo((1, 2, 3)), None)] * 21)
    with pytest.raises(InvalidImage, match="image 2"):
        await app.datasets.add_images(alice.id, dataset.id,
                                      [(photo((1, 2, 3)), None), (b"not an image", None)])
    assert (await app.datasets.get(alice.id, dataset.id)).images == ()  # all or nothing
    renamed = await app.datasets.rename(alice.id, dataset.id, "better name")
    assert renamed.name == "better name"
    await app.datasets.delete(alice.id, dataset.id)
    with pytest.raises(NotFound):
        await app.datasets.get(alice.id, dataset.id)


async def test_lint_finds_duplicates_and_small_images(app: App) -> None:
    alice = await user(app)
    dataset = await app.datasets.create(alice.id, "lint")
    same = photo((10, 200, 10))
    await app.datasets.add_images(alice.id, dataset.id,
                                  [(same, "a"), (same, "b"), (photo((5, 5, 5), (100, 90)), "c")])
    warnings = (await app.training.view(alice, dataset.id)).readiness.warnings
    assert "image 2 is a duplicate of image 1" in warnings
    assert any("image 3 is small" in w for w in warnings)


async def test_zip_import_and_export_in_the_trainers_layout(app: App) -> None:
    alice = await user(app)
    dataset = await app.datasets.create(alice.id, "zipped", trigger="zz")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"pics/{i}.jpg", photo((30 * i, 90, 120)))
        archive.writestr("pics/0.txt", "zz on a beach")
        archive.writestr("pics/1.txt", "a boat")
        archive.writestr("notes.md", "ignored")
    assert await app.training.import_zip(alice, dataset.id, buffer.getvalue()) == 3
    exported = zipfile.ZipFile(io.BytesIO(await app.training.export_zip(alice, dataset.id)))
    assert sorted(exported.namelist()) == ["001.png", "001.txt", "002.png", "002.txt",
                                           "003.png", "003.txt"]
    assert exported.read("001.txt").decode() == "zz on a beach"
    assert exported.read("002.txt").decode() == "zz, a boat"
    assert exported.read("003.txt").decode() == "zz"
    with pytest.raises(InvalidInput, match="not a zip"):
        await app.training.import_zip(alice, dataset.id, b"PK nope")


async def test_the_quote_follows_the_original_formula(app: App) -> None:
    alice = await user(app)
    dataset_id = await ready_dataset(app, alice, n=5)
    quote = await app.training.quote(alice, dataset_id, {"steps": 1550})
    assert quote.points == 1000 + 50 * 5 + 20 * 15
    with pytest.raises(InvalidInput, match="steps must be between 10 and 10000"):
        await app.training.quote(alice, dataset_id, {"steps": 5})


async def test_another_user_cannot_see_change_or_train_my_dataset(app: App) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    dataset_id = await ready_dataset(app, alice)
    with pytest.raises(NotFound):
        await app.training.view(bob, dataset_id)
    with pytest.raises(NotFound):
        await app.datasets.add_images(bob.id, dataset_id, [(photo((1, 1, 1)), None)])
    with pytest.raises(NotFound):
        await app.training.submit(bob, dataset_id)
    with pytest.raises(NotFound):
        await app.training.export_zip(bob, dataset_id)
    assert (await app.ledger.balance(bob.id)).total == 6000


async def test_not_ready_and_too_expensive_are_refused_before_any_hold(app: App) -> None:
    poor = await user(app, "poor", points=0)
    dataset = await app.datasets.create(poor.id, "few")
    with pytest.raises(InvalidInput, match="not ready: add 4 more images"):
        await app.training.submit(poor, dataset.id)
    dataset_id = await ready_dataset(app, poor)
    with pytest.raises(InsufficientPoints, match="Training costs 1500 points but only 1000"):
        await app.training.submit(poor, dataset_id)
    assert (await app.ledger.balance(poor.id)).total == 1000


async def test_a_failed_or_cancelled_training_is_refunded(app: App, engine: ScriptedEngine) -> None:
    alice = await user(app)
    dataset_id = await ready_dataset(app, alice)
    engine.script(Script(fail="trainer crashed: NaN loss"))
    job = await app.training.submit(alice, dataset_id)
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "failed" and "NaN" in (done.error or "")
    assert (await app.ledger.balance(alice.id)).total == 6000

    engine.script(Script(hang=True, delay=0.01))
    job = await app.training.submit(alice, dataset_id)
    while (await app.jobs.get(job.id)).state != "running":
        await asyncio.sleep(0.01)
    await app.jobs.cancel(job.id, owner_id=alice.id)
    assert (await app.jobs.wait(job.id, timeout=10)).state == "cancelled"
    assert (await app.ledger.balance(alice.id)).total == 6000
    assert await app.training.my_models(alice) == []


async def test_a_preview_training_makes_a_model_that_changes_later_images(
    preview_app: App,
) -> None:
    app = preview_app
    alice = await user(app)
    dataset_id = await ready_dataset(app, alice, color=(30, 190, 50))
    states: list[str] = []
    samples: list[bytes] = []

    async def seen(event: Event) -> None:
        assert isinstance(event, JobProgressed)
        states.append(event.state)
        if event.preview:
            samples.append(event.preview)

    app.bus.subscribe(seen, JobProgressed)
    quote = await app.training.quote(alice, dataset_id, {"steps": 200})
    job = await app.training.submit(alice, dataset_id, {"steps": 200}, name="greenery")
    done = await app.jobs.wait(job.id, timeout=30)
    assert done.state == "succeeded", done.error
    assert done.cost == quote.points
    assert states[0] == "preparing" and "running" in states  # the stages a user sees
    assert len(samples) >= 2 and all(s[:2] == b"\xff\xd8" for s in samples)  # JPEG samples
    assert (await app.ledger.balance(alice.id)).total == 6000 - quote.points
    models = await app.training.my_models(alice)
    assert [(m.name, m.trigger, m.kind) for m in models] == [("greenery", "grnz", "style")]

    async def mean_green(prompt: str) -> float:
        made = await app.make_image.make(alice, Request("make", {"prompt": prompt, "seed": 5}))
        result = await app.jobs.wait(made.id, timeout=30)
        assert result.state == "succeeded", result.error
        data = await app.media.read(await app.media.get(result.outputs[0]))
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64)
        return float(pixels[..., 1].mean() - pixels[..., [0, 2]].mean())

    plain = await mean_green("a red fox")
    by_trigger = await mean_green("a red fox, grnz")
    by_name = await mean_green("a red fox")  # baseline again: nothing sticks between jobs
    assert by_trigger > plain + 5
    assert by_name == plain
    styled = await app.make_image.make(
        alice, Request("make", {"prompt": "a red fox", "seed": 5, "loras": ["greenery"]})
    )
    assert (await app.jobs.wait(styled.id, timeout=30)).params["loras"] == ["greenery"]


async def test_someone_elses_model_cannot_be_used(preview_app: App) -> None:
    app = preview_app
    alice, bob = await user(app, "alice"), await user(app, "bob")
    job = await app.training.submit(alice, await ready_dataset(app, alice), {"steps": 100})
    assert (await app.jobs.wait(job.id, timeout=30)).state == "succeeded"
    await app.training.my_models(alice)
    with pytest.raises(NotFound, match="no model called 'Green things'"):
        await app.make_image.make(bob, Request("make", {"prompt": "x", "loras": ["Green things"]}))
    made = await app.make_image.make(bob, Request("make", {"prompt": "x grnz", "seed": 1}))
    assert (await app.jobs.wait(made.id, timeout=30)).params.get("_assets") in (None, {})
    assert png(4, 4)  # the helper stays importable for other tests


async def test_auto_captions_describe_the_images_and_cost_a_little(preview_app: App) -> None:
    app = preview_app
    alice = await user(app)
    dataset = await app.datasets.create(alice.id, "colours", trigger="clrz")
    await app.datasets.add_images(alice.id, dataset.id, [
        (photo((30, 190, 50)), None), (photo((40, 60, 200)), "my own caption"),
    ])
    before = (await app.ledger.balance(alice.id)).total
    written = await app.training.auto_caption(alice, dataset.id, app.make_image)
    assert written == 1  # the image that already had a caption is left alone
    images = (await app.datasets.get(alice.id, dataset.id)).images
    assert "green" in (images[0].caption or "") and images[1].caption == "my own caption"
    assert (await app.ledger.balance(alice.id)).total == before - 1


async def test_linking_accounts_brings_datasets_models_and_settings_along(app: App) -> None:
    phone = await app.users.resolve(Identity("telegram", "42"))
    web = await app.users.resolve(Identity("web", "alice"))
    dataset = await app.datasets.create(phone.id, "cats", trigger="mycat")
    item = await app.media.ingest(phone.id, png(8, 8))
    for owner, name in ((phone.id, "style"), (web.id, "style")):
        await app.models.register(owner_id=owner, name=name, trigger="t", base_model="sd15",
                                  kind="style", engine="preview", media_id=item.id,
                                  dataset_id=None, job_id=f"job-{owner}")
    await app.preferences.set(phone.id, "steps", 30)
    await app.preferences.set(phone.id, "cfg", 5.0)
    await app.preferences.set(web.id, "cfg", 9.0)

    code = await app.users.create_link_code(web.id)
    await app.users.redeem_link_code(code, phone.id)  # the phone joins the web account

    assert [d.id for d in await app.datasets.list_for(web.id)] == [dataset.id]
    assert sorted(m.name for m in await app.models.list_for(web.id)) == ["style", "style 2"]
    assert await app.preferences.get(web.id) == {"steps": 30, "cfg": 9.0}  # own cfg wins
