"""LoRA training on the pipeline's UNet with peft.

The standard recipe: the VAE encodes each training image once (its latent mean and spread
are kept), the text encoder encodes each caption once; every step samples a latent, adds
noise at a random timestep (DDPM schedule from the model's scheduler config) and trains the
LoRA layers on the UNet's attention projections to predict that noise (or the velocity, for
v-prediction models) with an MSE loss. Only the LoRA weights train; the base model is left as
it was, and the adapter is removed from the shared UNet when training ends.

Runs in a worker thread; torch, diffusers and peft are imported inside the functions.
"""

# diffusers and torch ship type hints but leave some functions unannotated.
# mypy: allow-untyped-calls

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path
from typing import Any

from stationthis.core.engine import Artifact, EngineEvent, JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.diffusers.model import LORA_FILE, Model
from stationthis.engines.diffusers.params import TrainParams
from stationthis.engines.diffusers.worker import Reporter

TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]
SAMPLE_STEPS = 12  # denoising steps of a sample picture
SAMPLE_SIDE = 256  # samples are at most this large: they are previews
ADAPTER = "stationthis_training"
MAX_PROGRESS_EVENTS = 200  # progress events per training, however many steps


def _load_images(job: JobSpec, resolution: int) -> list[Any]:
    """Decode the job's images (sorted by name), cropped to ``resolution`` squares, as
    float arrays in [-1, 1] with channels first."""
    import numpy as np
    from PIL import Image, ImageOps

    arrays = []
    for name in sorted(job.images):
        try:
            with Image.open(io.BytesIO(job.images[name].data)) as img:
                rgb = img.convert("RGB")
        except Exception as exc:
            raise EngineFailed(
                f"training image '{name}' could not be read: {type(exc).__name__}: {exc}"
            ) from exc
        fitted = ImageOps.fit(rgb, (resolution, resolution), Image.Resampling.LANCZOS)
        arr = np.asarray(fitted, dtype=np.float32) / 127.5 - 1.0
        arrays.append(arr.transpose(2, 0, 1).copy())
    return arrays


def _encode(model: Model, arrays: list[Any], captions: list[str]) -> tuple[Any, Any, Any]:
    """(latent means, latent stds, caption embeddings), one row per training image."""
    import numpy as np
    import torch

    pipe = model.pipe
    with torch.no_grad():
        means, stds = [], []
        for arr in arrays:
            pixels = torch.from_numpy(arr[np.newaxis]).to(model.device, pipe.vae.dtype)
            dist = pipe.vae.encode(pixels).latent_dist
            means.append(dist.mean)
            stds.append(dist.std)
        tokens = pipe.tokenizer(
            captions,
            padding="max_length",
            max_length=pipe.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        embeddings = pipe.text_encoder(tokens.input_ids.to(model.device))[0]
    return torch.cat(means), torch.cat(stds), embeddings


def _lora_file(unet: Any) -> bytes:
    """The trained adapter as a diffusers LoRA safetensors file."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils.state_dict_utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet, adapter_name=ADAPTER))
    if not state:
        raise EngineFailed("training produced no LoRA weights")
    metadata = unet.peft_config[ADAPTER].to_dict()
    with tempfile.TemporaryDirectory(prefix="stationthis-train-") as tmp:
        StableDiffusionPipeline.save_lora_weights(
            tmp,
            unet_lora_layers=state,
            weight_name=LORA_FILE,
            safe_serialization=True,
            unet_lora_adapter_metadata=metadata,
        )
        return (Path(tmp) / LORA_FILE).read_bytes()


def _sample(model: Model, p: TrainParams, prompt: str) -> bytes:
    """A small JPEG of ``prompt`` with the adapter as trained so far (same seed every time, so
    successive samples show what the training changed)."""
    import torch

    unet = model.pipe.unet
    side = min(p.resolution, model.default_side, SAMPLE_SIDE)
    unet.eval()
    try:
        with torch.no_grad():
            output = model.pipe(
                prompt=prompt, width=side, height=side, num_inference_steps=SAMPLE_STEPS,
                guidance_scale=7.0, generator=torch.Generator(device="cpu").manual_seed(p.seed),
                output_type="pil",
            )
    finally:
        unet.train()
    buffer = io.BytesIO()
    output.images[0].convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def train_lora(model: Model, job: JobSpec, p: TrainParams, report: Reporter) -> list[Artifact]:
    """Train a LoRA on the job's images and captions; returns it as one Artifact."""
    import torch
    from diffusers import DDPMScheduler
    from peft import LoraConfig

    arrays = _load_images(job, p.resolution)
    captions = [p.captions[name] for name in sorted(job.images)]
    generator = torch.Generator(device="cpu").manual_seed(p.seed)
    device = model.device
    pipe = model.pipe
    unet = pipe.unet

    report.acquire(model.lock)
    try:
        means, stds, embeddings = _encode(model, arrays, captions)
        noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        prediction_type = noise_scheduler.config.prediction_type
        if prediction_type not in ("epsilon", "v_prediction"):
            raise EngineFailed(f"cannot train a model that predicts '{prediction_type}'")
        num_timesteps = int(noise_scheduler.config.num_train_timesteps)
        scaling = float(pipe.vae.config.scaling_factor)
        shift = getattr(pipe.vae.config, "shift_factor", None)

        config = LoraConfig(
            r=p.rank,
            lora_alpha=p.rank,
            lora_dropout=0.0,
            init_lora_weights="gaussian",
            target_modules=TARGET_MODULES,
        )
        unet.add_adapter(config, adapter_name=ADAPTER)
        try:
            unet.set_adapter(ADAPTER)
            trainable = []
            for name, param in unet.named_parameters():
                if f".{ADAPTER}." not in name:
                    continue
                param.requires_grad_(True)
                trainable.append(param)
                if "lora_A" in name:  # peft's gaussian init, from the job's seed
                    with torch.no_grad():
                        init = torch.randn(param.shape, generator=generator) / p.rank
                        param.copy_(init.to(param.device, param.dtype))
            if not trainable:
                raise EngineFailed("the model's UNet has no attention layers to train")
            optimizer = torch.optim.AdamW(trainable, lr=p.learning_rate, weight_decay=1e-2)
            unet.train()
            report.event(EngineEvent("progress", step=0, total=p.steps, message="training"))
            every = max(1, math.ceil(p.steps / MAX_PROGRESS_EVENTS))
            losses: list[float] = []
            pending: list[float] = []
            for step in range(1, p.steps + 1):
                report.check()
                idx = torch.randint(0, len(arrays), (p.batch,), generator=generator)
                sample = torch.randn(means[idx].shape, generator=generator).to(device)
                latents = means[idx] + stds[idx] * sample
                if shift is not None:
                    latents = latents - float(shift)
                latents = latents * scaling
                noise = torch.randn(latents.shape, generator=generator).to(device)
                timesteps = torch.randint(0, num_timesteps, (p.batch,), generator=generator)
                timesteps = timesteps.to(device)
                noisy = noise_scheduler.add_noise(latents, noise, timesteps)
                if prediction_type == "epsilon":
                    target = noise
                else:
                    target = noise_scheduler.get_velocity(latents, noise, timesteps)
                pred = unet(noisy, timesteps, embeddings[idx]).sample
                loss = torch.nn.functional.mse_loss(pred.float(), target.float())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                value = float(loss.detach().item())
                if not math.isfinite(value):
                    raise EngineFailed(
                        f"training diverged at step {step} (the loss is {value}); "
                        "try a lower learning_rate"
                    )
                losses.append(value)
                pending.append(value)
                if step % every == 0 or step == p.steps:
                    mean = sum(pending) / len(pending)
                    pending.clear()
                    report.event(
                        EngineEvent(
                            "progress", step=step, total=p.steps, message="training",
                            extra={"loss": mean},
                        )
                    )
                if p.sample_every and (step % p.sample_every == 0 or step == p.steps):
                    report.check()
                    jpeg = _sample(model, p, captions[0])
                    report.event(EngineEvent("preview", step=step, total=p.steps,
                                             message="sample", preview=jpeg))
            data = _lora_file(unet)
        finally:
            unet.eval()
            unet.unload_lora()  # the shared UNet goes back to the plain model
            unet.requires_grad_(False)
    finally:
        model.lock.release()
    tail = losses[-max(1, len(losses) // 10):]
    meta = {
        "kind": "lora",
        "trigger": p.trigger,
        "steps": p.steps,
        "final_loss": sum(tail) / len(tail),
        "rank": p.rank,
        "resolution": p.resolution,
        "images": len(arrays),
        "engine": "diffusers",
        "base_model": model.model_dir.name,
    }
    return [Artifact(data, "application/octet-stream", f"{job.job_id}.safetensors", meta)]
