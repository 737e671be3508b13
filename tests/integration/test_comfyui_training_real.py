"""LoRA training and generation with the trained LoRA on a REAL ComfyUI 0.3.75 (CPU).

A server of its own, started with the ``extra_model_paths.yaml`` entry an operator adds
(``loras:`` → ``<input>/stationthis_loras``, see docs/decisions/0011) and a tiny checkpoint
that ComfyUI loads as Stable Diffusion 1.5: a UNet with SD 1.5's width (320 channels, context
768) but one level and one block, the real-size CLIP-L text encoder and a TAESD VAE, all
randomly initialised (seeded) by ComfyUI's own classes in its venv, in ~7 s, while the server
starts. The built-in ``train`` tool then runs with fp32 (bf16 autocast on a CPU gives a zero loss
with these random weights) and without gradient checkpointing (3-20× slower on a CPU), and a
later ``make`` loads the LoRA by trigger word. The server runs the text encoder in fp32
(``--fp32-text-enc``): ComfyUI's CPU default, fp16, is many times slower on a CPU.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.events import Event, JobProgressed
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.integration.conftest import build_app, engine_for
from tests.support.comfyui import RealComfyUI, comfyui_home, comfyui_server, require_comfyui

CHECKPOINT = "tiny-sd15.safetensors"
LORAS = "stationthis_loras"
JOB_TIMEOUT_S = 300  # a busy 2-core machine is many times slower than an idle one

# Runs in ComfyUI's venv, in its tree: writes the tiny SD 1.5 checkpoint to argv[1].
_CHECKPOINT_SCRIPT = """
import sys
out = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import torch
from safetensors.torch import save_file
import comfy.ops
import comfy.sd1_clip
import comfy.taesd.taesd
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

torch.manual_seed(0)
unet = UNetModel(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[1],
    dropout=0, channel_mult=(1,), num_heads=8, num_head_channels=-1, transformer_depth=[1],
    transformer_depth_output=[1, 1], transformer_depth_middle=1, context_dim=768,
    use_linear_in_transformer=False, use_spatial_transformer=True, adm_in_channels=None,
    num_classes=None, operations=comfy.ops.disable_weight_init, device="cpu",
    dtype=torch.float32)
clip = comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32)
vae = comfy.taesd.taesd.TAESD()
weights = {}
for prefix, module, scale in (("model.diffusion_model.", unet, 0.02),
                              ("cond_stage_model.transformer.", clip.transformer, 0.02),
                              ("first_stage_model.", vae, 0.1)):
    for key, value in module.state_dict().items():
        if not value.dtype.is_floating_point:
            weights[prefix + key] = value.clone()
        elif key.endswith("bias"):
            weights[prefix + key] = torch.zeros(value.shape, dtype=torch.float16)
        elif "norm" in key:
            weights[prefix + key] = torch.ones(value.shape, dtype=torch.float16)
        else:
            weights[prefix + key] = (torch.randn(value.shape) * scale).to(torch.float16)
weights["first_stage_model.vae_scale"] = torch.tensor(1.0)
weights["first_stage_model.vae_shift"] = torch.tensor(0.0)
save_file({k: v.contiguous() for k, v in weights.items()}, out)
"""


def write_checkpoint(path: Path) -> Path:
    home = comfyui_home()
    subprocess.run(
        [str(home / "venv" / "bin" / "python"), "-c", _CHECKPOINT_SCRIPT, str(path)],
        cwd=home / "app", check=True, capture_output=True, timeout=180,
        env={"PYTHONPATH": str(home / "app"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    return path


@pytest.fixture(scope="module")
def training_comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealComfyUI]:
    """A real ComfyUI whose loras include ``<input>/stationthis_loras``, with the checkpoint."""
    require_comfyui()
    base = tmp_path_factory.mktemp("comfyui-training")
    config = comfyui_home() / "extra_model_paths.stationthis.yaml"  # by scripts/comfyui-setup
    if not config.is_file():  # an install from before the setup script wrote it
        config = base / "extra_model_paths.yaml"
        config.write_text(f"stationthis:\n  loras: {base / 'input' / LORAS}\n", encoding="utf-8")
    with ThreadPoolExecutor(1) as pool, contextlib.ExitStack() as stack:
        written = pool.submit(write_checkpoint, base / CHECKPOINT)
        os.environ["COMFYUI_BASE"] = str(base)  # the template's base_path, read at start-up
        try:
            server = stack.enter_context(comfyui_server(data_dir=base, extra_args=[
                "--extra-model-paths-config", str(config), "--fp32-text-enc"]))
        finally:
            os.environ.pop("COMFYUI_BASE", None)
        target = server.models_dir / "checkpoints"
        target.mkdir(parents=True, exist_ok=True)
        written.result().replace(target / CHECKPOINT)
        yield server


@pytest.fixture
async def training_app(
    make_settings: Any, training_comfyui: RealComfyUI
) -> AsyncIterator[App]:
    settings: Settings = make_settings(
        comfyui_urls=training_comfyui.url, comfyui_checkpoint=CHECKPOINT, training_resolution=64
    )
    async with build_app(settings, engine_for(training_comfyui.url, silence_timeout=2.0)) as app:
        yield app


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((64, 64, 3)) * [255, 80, 80]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


async def test_a_real_training_then_a_make_that_uses_the_lora(
    training_app: App, training_comfyui: RealComfyUI
) -> None:
    app = training_app
    alice = await app.users.resolve(Identity("test", "alice"))
    bob = await app.users.resolve(Identity("test", "bob"))
    await app.ledger.grant(alice.id, 5000, key="test:alice")
    steps: list[tuple[int, int]] = []

    async def seen(event: Event) -> None:
        assert isinstance(event, JobProgressed)
        if event.progress.get("total"):
            steps.append((int(event.progress["step"]), int(event.progress["total"])))

    app.bus.subscribe(seen, JobProgressed)
    dataset = await app.datasets.create(alice.id, "red noise", trigger="rdnz")
    await app.datasets.add_images(alice.id, dataset.id,
                                  [(photo(i), f"rdnz texture {i}") for i in range(4)])
    job = await app.training.submit(
        alice, dataset.id, {"steps": 10, "training_dtype": "fp32", "lora_dtype": "fp32",
                            "rank": 4, "gradient_checkpointing": False}, name="red noise")
    done = await app.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)
    assert done.state == "succeeded", f"{done.error}\n{training_comfyui.log_tail()}"
    assert (10, 10) in steps  # TrainLoraNode's progress frames reached the job
    [model] = await app.training.my_models(alice)
    assert (model.kind, model.engine, model.trigger) == ("lora", "comfyui", "rdnz")
    lora = await app.media.read(await app.media.get(model.media_id))
    saved = list((training_comfyui.output_dir / "stationthis_loras").rglob("*.safetensors"))
    assert [p.read_bytes() for p in saved] == [lora]  # the file SaveLoRA wrote
    assert (await app.ledger.balance(alice.id)).total == 5000 + 1000 - done.quote

    async def image(who: Account) -> np.ndarray:
        made = await app.make_image.make(who, Request("make", {
            "prompt": "a texture rdnz", "seed": 3, "width": 64, "height": 64, "steps": 3,
        }))
        result = await app.jobs.wait(made.id, timeout=JOB_TIMEOUT_S)
        assert result.state == "succeeded", f"{result.error}\n{training_comfyui.log_tail()}"
        data = await app.media.read(await app.media.get(result.outputs[0]))
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64)

    without = await image(bob)  # bob has no model called rdnz
    with_lora = await image(alice)
    uploaded = list((training_comfyui.input_dir / LORAS).iterdir())
    assert [p.read_bytes() for p in uploaded] == [lora]  # sent once, content-addressed
    assert np.abs(with_lora - without).mean() > 0  # the LoRA changed alice's picture
    assert np.array_equal(await image(bob), without)  # and nothing of it stuck
