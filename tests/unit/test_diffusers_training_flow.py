"""The whole training path on the diffusers engine (the `local` extra): a dataset, a real LoRA
training with peft, the model registered, and a later make that uses it by trigger word."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.events import Event, JobProgressed
from stationthis.core.users import Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.unit.test_diffusers_engine import require_local_extra


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_local_extra()
    import torch

    from tests.support.tiny_pipeline import save_tiny_pipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"), seed=0)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
async def diffusers_app(
    make_settings: Callable[..., Settings], tiny_model: Path
) -> AsyncIterator[App]:
    settings = make_settings(engine="diffusers", diffusers_model_dir=tiny_model)
    async with build(settings) as app:
        yield app


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((64, 64, 3)) * [255, 60, 60]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


async def test_train_a_lora_and_use_it_by_trigger_word(diffusers_app: App) -> None:
    app = diffusers_app
    assert app.engine.name == "diffusers"
    alice = await app.users.resolve(Identity("test", "alice"))
    await app.ledger.grant(alice.id, 3000, key="test:alice")
    samples: list[tuple[int, bytes]] = []
    losses: list[float] = []

    async def seen(event: Event) -> None:
        assert isinstance(event, JobProgressed)
        if "loss" in event.progress:
            losses.append(float(event.progress["loss"]))
        if event.preview:
            samples.append((int(event.progress.get("step", 0)), event.preview))

    app.bus.subscribe(seen, JobProgressed)
    dataset = await app.datasets.create(alice.id, "red noise", trigger="rdnz")
    await app.datasets.add_images(alice.id, dataset.id,
                                  [(photo(i), f"rdnz texture {i}") for i in range(4)])
    job = await app.training.submit(alice, dataset.id, {"steps": 12, "resolution": 256},
                                    name="red noise")
    done = await app.jobs.wait(job.id, timeout=120)
    assert done.state == "succeeded", done.error
    assert done.cost == 1000 + 50 * 4 + 20 * 0
    # sample pictures of what it had learnt reached the job's progress, as JPEGs
    assert [step for step, _ in samples] == [3, 6, 9, 12]
    assert all(jpeg[:2] == b"\xff\xd8" for _, jpeg in samples)
    assert losses and all(loss > 0 for loss in losses)  # the trainer's loss is shown as it goes
    [model] = await app.training.my_models(alice)
    assert (model.name, model.trigger, model.kind, model.engine) == (
        "red noise", "rdnz", "lora", "diffusers"
    )

    bob = await app.users.resolve(Identity("test", "bob"))  # same prompt, no such model

    async def image(who: object, prompt: str) -> np.ndarray:
        made = await app.make_image.make(who, Request("make", {  # type: ignore[arg-type]
            "prompt": prompt, "seed": 3, "width": 64, "height": 64, "steps": 4,
        }))
        result = await app.jobs.wait(made.id, timeout=120)
        assert result.state == "succeeded", result.error
        data = await app.media.read(await app.media.get(result.outputs[0]))
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64)

    without = await image(bob, "a texture rdnz")
    with_lora = await image(alice, "a texture rdnz")
    again = await image(bob, "a texture rdnz")
    assert np.abs(with_lora - without).mean() > 0  # alice's trained LoRA changes her image
    assert np.array_equal(again, without)  # and nothing of it sticks to later jobs
    assert await app.ledger.verify(alice.id)
