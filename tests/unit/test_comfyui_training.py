"""LoRA training on ComfyUI and the trained LoRA in later generations, against the fake ComfyUI
(its training nodes behave as ComfyUI 0.3.75's: see tests/support/fake_comfyui_training.py)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import InvalidInput
from stationthis.core.jobs import Job
from stationthis.core.users import Account, Identity
from stationthis.engines.comfyui import ComfyUIEngine, ServerPool
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.fake_comfyui_nodes import DEFAULT_MODELS, default_object_info

LORAS = "stationthis_loras"  # the input subfolder our engine uploads LoRA files into
GRANT = 5000


def engine_for(url: str) -> ComfyUIEngine:
    pool = ServerPool([url], client_id="test-client", check_every=0.2)
    return ComfyUIEngine(pool, client_id="test-client", silence_timeout=0.3,
                         down_grace=1.0, result_wait=3.0)


@pytest.fixture
def make_app(settings: Settings) -> Callable[[FakeComfyUI], Any]:
    def make(fake: FakeComfyUI) -> Any:
        app = build(settings, engine=engine_for(fake.url))
        app.runner.progress_interval = 0.0  # keep every progress frame
        return app
    return make


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with FakeComfyUI(loras_from_input=LORAS) as server:
        yield server


@pytest.fixture
async def comfy_app(make_app: Callable[[FakeComfyUI], Any],
                    fake: FakeComfyUI) -> AsyncIterator[App]:
    async with make_app(fake) as app:
        yield app


def photo(colour: tuple[int, int, int], size: int = 96) -> bytes:
    """A noisy picture in ``colour`` (noise: a realistic PNG size, not a few hundred bytes)."""
    rng = np.random.default_rng(sum(colour))
    pixels = np.clip(rng.normal(colour, 30, (size, size, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


async def user(app: App, name: str) -> Account:
    account = await app.users.resolve(Identity("test", name))
    await app.ledger.grant(account.id, GRANT, key=f"test:{name}")
    return account


async def train(app: App, owner: Account, *, steps: int = 12) -> Job:
    dataset = await app.datasets.create(owner.id, "My cat", trigger="mycat")
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]
    await app.datasets.add_images(owner.id, dataset.id, [
        (photo(c), f"a cat number {i}" if i % 2 else f"mycat asleep {i}")
        for i, c in enumerate(colours)
    ])
    job = await app.training.submit(owner, dataset.id, {"steps": steps}, name="My cat")
    done = await app.jobs.wait(job.id, timeout=20)
    if done.state == "succeeded":  # the model is registered from the completion event
        for _ in range(200):
            if any(m.job_id == job.id for m in await app.training.my_models(owner)):
                break
            await asyncio.sleep(0.025)
    return done


async def balance(app: App, owner: Account) -> int:
    return (await app.ledger.balance(owner.id)).total


async def test_a_training_uploads_the_dataset_runs_with_progress_and_registers_the_lora(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    alice = await user(comfy_app, "alice")
    before = await balance(comfy_app, alice)
    done = await train(comfy_app, alice, steps=12)
    assert done.state == "succeeded", done.error

    folder = f"stationthis_train/{done.id}"
    graph = fake.prompts[-1]["prompt"]
    assert graph["2"]["inputs"]["folder"] == folder  # the loader reads what we uploaded
    uploaded = {name: data for (kind, sub, name), data in fake.files.items()
                if kind == "input" and sub == folder}
    assert sorted(uploaded) == ["001.png", "001.txt", "002.png", "002.txt", "003.png",
                                "003.txt", "004.png", "004.txt"]
    captions = [uploaded[f"00{i}.txt"].decode() for i in range(1, 5)]
    assert all("mycat" in text for text in captions)  # the trigger word is in every caption
    assert "a cat number 1" in captions[1]

    # one progress frame per training step reached the job
    assert (done.progress["step"], done.progress["total"], done.progress["percent"]) == (
        12, 12, 100)

    # the file SaveLoRA wrote is what we stored, registered as alice's model
    [model] = await comfy_app.training.my_models(alice)
    assert (model.name, model.trigger, model.kind, model.engine) == (
        "My cat", "mycat", "lora", "comfyui")
    stored = await comfy_app.media.read(await comfy_app.media.get(model.media_id))
    saved = [data for (kind, _sub, name), data in fake.files.items()
             if kind == "output" and name.endswith(".safetensors")]
    assert saved == [stored]
    assert b'"steps": "12"' in stored and b'"images": "4"' in stored
    assert await balance(comfy_app, alice) == before - done.quote
    assert await comfy_app.ledger.verify(alice.id)


async def test_the_trained_lora_is_loaded_by_trigger_word_and_uploaded_once(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    alice, bob = await user(comfy_app, "alice"), await user(comfy_app, "bob")
    trained = await train(comfy_app, alice)
    assert trained.state == "succeeded", trained.error
    [model] = await comfy_app.training.my_models(alice)
    lora = await comfy_app.media.read(await comfy_app.media.get(model.media_id))

    async def make(who: Account, prompt: str) -> dict[str, Any]:
        job = await comfy_app.make_image.make(who, Request("make", {"prompt": prompt}))
        done = await comfy_app.jobs.wait(job.id, timeout=20)
        assert done.state == "succeeded", done.error
        graph: dict[str, Any] = fake.prompts[-1]["prompt"]
        return graph

    graph = await make(alice, "a portrait of mycat as a pirate")
    [lora_id] = [nid for nid, node in graph.items() if node["class_type"] == "LoraLoader"]
    node = graph[lora_id]["inputs"]
    assert node["model"] == ["4", 0] and node["clip"] == ["4", 1]
    assert (node["strength_model"], node["strength_clip"]) == (1.0, 1.0)
    assert graph["3"]["inputs"]["model"] == [lora_id, 0]  # the sampler uses the LoRA'd model
    assert graph["6"]["inputs"]["clip"] == [lora_id, 1]  # and both prompts its clip
    assert graph["7"]["inputs"]["clip"] == [lora_id, 1]
    uploads = [(sub, name) for (kind, sub, name), data in fake.files.items()
               if kind == "input" and data == lora]
    assert uploads == [(LORAS, node["lora_name"])]

    graph = await make(alice, "mycat on the moon")
    assert any(n["class_type"] == "LoraLoader" for n in graph.values())
    assert [name for (kind, sub, name) in fake.files if kind == "input" and sub == LORAS] == [
        node["lora_name"]]  # the same file is not sent again

    graph = await make(bob, "a portrait of mycat as a pirate")  # bob has no such model
    assert not any(n["class_type"] == "LoraLoader" for n in graph.values())


async def test_a_server_that_cannot_see_uploaded_loras_fails_the_job_naming_the_fix(
    make_app: Callable[[FakeComfyUI], Any]
) -> None:
    async with FakeComfyUI() as blind:  # no extra_model_paths entry for our folder
        async with make_app(blind) as app:
            alice = await user(app, "alice")
            assert (await train(app, alice)).state == "succeeded"
            before = await balance(app, alice)
            job = await app.make_image.make(alice, Request("make", {"prompt": "mycat"}))
            done = await app.jobs.wait(job.id, timeout=20)
            assert done.state == "failed"
            assert "extra_model_paths.yaml" in (done.error or "")
            assert LORAS in (done.error or "")
            assert await balance(app, alice) == before  # the hold was released
            assert await app.ledger.verify(alice.id)
            assert not any(n["class_type"] == "LoraLoader"
                           for body in blind.prompts for n in body["prompt"].values())


async def test_a_server_without_the_training_nodes_fails_the_training_and_releases(
    make_app: Callable[[FakeComfyUI], Any]
) -> None:
    info = default_object_info(DEFAULT_MODELS)  # no TrainLoraNode, SaveLoRA, dataset loader
    async with FakeComfyUI(object_info=info) as old, make_app(old) as app:
        alice = await user(app, "alice")
        before = await balance(app, alice)
        done = await train(app, alice)
        assert done.state == "failed"
        assert "LoadImageTextDataSetFromFolder" in (done.error or "") or "TrainLoraNode" in (
            done.error or "")
        assert await balance(app, alice) == before
        assert old.prompts == [] and not old.files  # nothing was sent
        assert await app.training.my_models(alice) == []


async def test_a_refused_upload_fails_the_training_clearly_and_releases(
    make_app: Callable[[FakeComfyUI], Any]
) -> None:
    async with FakeComfyUI(max_upload_size=16 * 1024) as small, make_app(small) as app:
        alice = await user(app, "alice")
        before = await balance(app, alice)
        done = await train(app, alice)
        assert done.state == "failed"
        assert "refused the training images" in (done.error or "")
        assert "413" in (done.error or "")
        assert await balance(app, alice) == before
        assert small.prompts == []


async def test_no_lora_file_at_the_end_fails_the_training_and_releases(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    alice = await user(comfy_app, "alice")
    before = await balance(comfy_app, alice)
    fake.script(lose_lora=True)
    done = await train(comfy_app, alice)
    assert done.state == "failed"
    assert "no LoRA file" in (done.error or "")
    assert await balance(comfy_app, alice) == before
    assert await comfy_app.training.my_models(alice) == []
    assert await comfy_app.ledger.verify(alice.id)


async def test_a_training_error_on_the_server_fails_the_job_and_releases(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    alice = await user(comfy_app, "alice")
    before = await balance(comfy_app, alice)
    fake.script(fail_node="3", exception_message="CUDA out of memory. Tried to allocate 2 GiB")
    done = await train(comfy_app, alice)
    assert done.state == "failed"
    assert "ran out of memory in TrainLoraNode" in (done.error or "")
    assert await balance(comfy_app, alice) == before


async def test_strength_and_a_style_profile_on_the_engine(fake: FakeComfyUI) -> None:
    """lora_scales sets LoraLoader's strengths; a preview-engine style profile is refused."""
    from stationthis.core.engine import JobSpec
    from stationthis.core.errors import EngineFailed
    from stationthis.engines.comfyui.loras import file_name
    from tests.support.fake_comfyui_training import lora_file

    engine = engine_for(fake.url)
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": 2, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0],
            "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "t", "images": ["8", 0]}},
    }
    one, two = lora_file([(b"a", "one")], 1), lora_file([(b"b", "two")], 1)
    try:
        spec = JobSpec("job-1", "make", "txt2img", {"loras": ["one", "two"],
                                                      "lora_scales": {"two": 0.4}},
                       graph=graph, assets={"one": one, "two": two})
        handle = await engine.submit(spec)
        assert [e.kind async for e in engine.events(handle)][-1] == "done"
        sent = fake.prompts[-1]["prompt"]
        chain = [n["inputs"] for n in sent.values() if n["class_type"] == "LoraLoader"]
        assert [(c["lora_name"], c["strength_model"]) for c in chain] == [
            (file_name(one), 1.0), (file_name(two), 0.4)]
        assert chain[1]["model"][0] != "4" and sent["3"]["inputs"]["model"][0] != "4"

        style = b'{"palette": [[1, 2, 3]]}'
        bad = JobSpec("job-2", "make", "txt2img", {"loras": ["style"]}, graph=graph,
                      assets={"style": style})
        with pytest.raises(EngineFailed, match="not a LoRA file"):
            await engine.submit(bad)
        assert len(fake.prompts) == 1
    finally:
        await engine.aclose()


async def test_a_restart_of_stationthis_mid_training_still_gets_the_lora(
    make_settings: Callable[..., Settings], fake: FakeComfyUI
) -> None:
    """The file's name is read back from the server's history, not from our memory."""
    settings = make_settings()
    first = build(settings, engine=engine_for(fake.url))
    await first.start()
    alice = await user(first, "alice")
    fake.script(step_delay=0.05)
    dataset = await first.datasets.create(alice.id, "My cat", trigger="mycat")
    await first.datasets.add_images(alice.id, dataset.id,
                                    [(photo((60 * i, 90, 30)), "mycat") for i in range(4)])
    job = await first.training.submit(alice, dataset.id, {"steps": 40}, name="My cat")
    for _ in range(400):
        if (await first.jobs.get(job.id)).progress.get("step"):
            break
        await asyncio.sleep(0.01)
    await first.queue.stop(grace_seconds=0.01)  # StationThis dies; ComfyUI keeps training
    await first.engine.aclose()  # type: ignore[attr-defined]
    await first.db.dispose()

    async with build(settings, engine=engine_for(fake.url)) as second:
        done = await second.jobs.wait(job.id, timeout=20)
        assert done.state == "succeeded", done.error
        assert len(fake.prompts) == 1  # looked up, not trained again
        [model] = await second.training.my_models(alice)
        stored = await second.media.read(await second.media.get(model.media_id))
        assert b'"steps": "40"' in stored


async def test_cancelling_a_training_interrupts_it_and_releases(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    alice = await user(comfy_app, "alice")
    before = await balance(comfy_app, alice)
    fake.script(step_delay=0.05)
    dataset = await comfy_app.datasets.create(alice.id, "My cat", trigger="mycat")
    await comfy_app.datasets.add_images(alice.id, dataset.id,
                                        [(photo((60 * i, 90, 30)), "mycat") for i in range(4)])
    job = await comfy_app.training.submit(alice, dataset.id, {"steps": 200}, name="My cat")
    for _ in range(400):
        if (await comfy_app.jobs.get(job.id)).progress.get("step"):
            break
        await asyncio.sleep(0.01)
    await comfy_app.jobs.cancel(job.id, owner_id=alice.id)
    done = await comfy_app.jobs.wait(job.id, timeout=20)
    assert done.state == "cancelled"
    assert fake.interrupts == [job.id]
    assert not any(name.endswith(".safetensors") for kind, _s, name in fake.files
                   if kind == "output")
    assert await balance(comfy_app, alice) == before
    assert await comfy_app.training.my_models(alice) == []


async def test_a_model_from_another_engine_is_refused_by_name_and_ignored_by_trigger(
    settings: Settings, fake: FakeComfyUI, make_app: Callable[[FakeComfyUI], Any]
) -> None:
    """A style profile trained on the preview engine is not a LoRA: after switching the
    service to ComfyUI, naming it is a clear refusal that costs nothing, and its trigger word
    is just a word of the prompt."""
    async with build(settings) as preview_app:  # the same database, on the preview engine
        alice = await user(preview_app, "alice")
        trained = await train(preview_app, alice, steps=100)
        assert trained.state == "succeeded", trained.error
    async with make_app(fake) as comfy_app:
        [model] = await comfy_app.training.my_models(alice)
        assert model.kind == "style"
        before = await balance(comfy_app, alice)
        with pytest.raises(InvalidInput, match="trained on the preview engine"):
            await comfy_app.make_image.make(
                alice, Request("make", {"prompt": "a cat", "loras": [model.name]}))
        assert await balance(comfy_app, alice) == before
        job = await comfy_app.make_image.make(alice, Request("make", {"prompt": "mycat asleep"}))
        done = await comfy_app.jobs.wait(job.id, timeout=20)
        assert done.state == "succeeded", done.error
        assert not any(n["class_type"] == "LoraLoader" for n in fake.prompts[-1]["prompt"].values())
