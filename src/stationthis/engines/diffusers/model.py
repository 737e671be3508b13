"""The loaded Stable Diffusion pipeline and image generation with it.

torch and diffusers are imported inside functions: importing this module works without the
``local`` extra, and only running a job needs it.
"""

# diffusers ships type hints but leaves many functions unannotated.
# mypy: allow-untyped-calls

from __future__ import annotations

import importlib
import io
import json
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stationthis.core.engine import Artifact, EngineEvent, JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.diffusers.params import GenParams
from stationthis.engines.diffusers.worker import Reporter

REQUIRED = ("torch", "diffusers", "peft", "transformers", "safetensors")
EXTRA_HINT = "install the 'local' extra: pip install 'stationthis[local]'"
LORA_FILE = "lora.safetensors"


def check_model_dir(model_dir: Path) -> str | None:
    """Why ``model_dir`` cannot be a diffusers model folder, or None if it looks like one."""
    if not model_dir.exists():
        return f"the diffusers model folder {model_dir} does not exist"
    if not model_dir.is_dir():
        return f"the diffusers model path {model_dir} is not a folder"
    if not (model_dir / "model_index.json").is_file():
        return (
            f"{model_dir} is not a diffusers model folder (it has no model_index.json; "
            "save the model with save_pretrained or convert a single-file checkpoint first)"
        )
    return None


@dataclass(eq=False)
class Model:
    """One pipeline, used by one job at a time (``lock``): LoRAs are loaded into it per job."""

    pipe: Any  # diffusers.StableDiffusionPipeline
    device: str
    model_dir: Path
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def default_side(self) -> int:
        """The image side the model was trained at (512 for SD 1.x)."""
        return int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)


def _torch_device(device: str) -> Any:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise EngineFailed(f"'{device}' is not a torch device ({exc})") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EngineFailed(f"device '{device}' was asked for but torch sees no CUDA GPU")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise EngineFailed(f"device '{device}' was asked for but MPS is not available")
    return dev


def load_model(model_dir: Path, device: str) -> Model:
    """Load the pipeline from ``model_dir`` onto ``device``; EngineFailed says what is wrong."""
    problem = check_model_dir(model_dir)
    if problem is not None:
        raise EngineFailed(problem)
    try:
        for name in REQUIRED:
            importlib.import_module(name)
    except ImportError as exc:
        raise EngineFailed(f"the diffusers engine is not installed ({exc}); {EXTRA_HINT}") from exc
    from diffusers import StableDiffusionPipeline

    dev = _torch_device(device)
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            str(model_dir),
            local_files_only=True,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    except Exception as exc:
        raise EngineFailed(
            f"could not load the diffusers model from {model_dir}: {type(exc).__name__}: {exc}"
        ) from exc
    pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False)
        module.eval()
    return Model(pipe=pipe, device=str(dev), model_dir=model_dir)


@contextmanager
def loras_applied(model: Model, job: JobSpec, p: GenParams) -> Iterator[None]:
    """Load the job's LoRAs (from ``job.assets``) into the pipeline, and unload them after,
    so the next job starts from the plain model."""
    if not p.loras:
        yield
        return
    pipe = model.pipe
    adapters: list[str] = []
    with tempfile.TemporaryDirectory(prefix="stationthis-lora-") as tmp:
        try:
            for i, name in enumerate(p.loras):
                folder = Path(tmp) / str(i)
                folder.mkdir()
                (folder / LORA_FILE).write_bytes(job.assets[name])
                adapter = f"job_lora_{i}"
                try:
                    pipe.load_lora_weights(str(folder), weight_name=LORA_FILE, adapter_name=adapter)
                except Exception as exc:
                    raise EngineFailed(
                        f"LoRA '{name}' could not be loaded: {type(exc).__name__}: {exc}"
                    ) from exc
                adapters.append(adapter)
            pipe.set_adapters(adapters, adapter_weights=list(p.lora_scales))
            yield
        finally:
            pipe.unload_lora_weights()


def encode_png(image: Any, meta: dict[str, Any]) -> bytes:
    """PNG bytes with text chunks saying how the image was made (as the other engines do:
    ``stationthis:engine``, then ``stationthis:<key>`` per item of ``meta``)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("stationthis:engine", "diffusers")
    for key, value in meta.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        info.add_text(f"stationthis:{key}", text)
    info.add_text("Software", "StationThis diffusers engine")
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def generate(model: Model, job: JobSpec, p: GenParams, report: Reporter) -> list[Artifact]:
    """txt2img: ``batch`` images with seeds seed, seed+1, ...; one progress event per
    denoising step. Runs in a worker thread."""
    import torch

    pipe = model.pipe

    def on_step_end(_pipe: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> Any:
        report.check()  # raising here stops the denoising loop at once
        total = int(getattr(_pipe, "num_timesteps", p.steps) or p.steps)
        report.event(EngineEvent("progress", step=step + 1, total=total, message="denoising"))
        return kwargs

    report.acquire(model.lock)
    try:
        with loras_applied(model, job, p):
            report.check()
            generators = [
                torch.Generator(device="cpu").manual_seed(p.seed + i) for i in range(p.batch)
            ]
            output = pipe(
                prompt=p.prompt,
                negative_prompt=p.negative or None,
                width=p.width,
                height=p.height,
                num_inference_steps=p.steps,
                guidance_scale=p.cfg,
                num_images_per_prompt=p.batch,
                generator=generators,
                output_type="pil",
                callback_on_step_end=on_step_end,
            )
    finally:
        model.lock.release()
    out = []
    for i, image in enumerate(output.images):
        seed = p.seed + i
        png = encode_png(image, p.meta(job.tool, seed))
        meta = {"seed": seed, "width": p.width, "height": p.height, "engine": "diffusers"}
        out.append(Artifact(png, "image/png", f"{job.job_id}_{i}.png", meta))
    return out
