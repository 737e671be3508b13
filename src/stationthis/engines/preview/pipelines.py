"""What each job category does, step by step, with progress reporting.

CPU work runs in worker threads (``Context.work``) so the event loop stays responsive;
progress events are paced by ``Context.advance``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from PIL import Image, ImageOps

from stationthis.core.engine import Artifact, EngineEvent, JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.preview import imageio, ops, style
from stationthis.engines.preview import loras as server_looks
from stationthis.engines.preview.caption import describe
from stationthis.engines.preview.describe import prompts as describe_prompts
from stationthis.engines.preview.inpaint import inpaint_png
from stationthis.engines.preview.outpaint import outpaint_png
from stationthis.engines.preview.palette import analyse
from stationthis.engines.preview.params import MAX_SIDE, GenParams, gen_params, int_param, steps_for
from stationthis.engines.preview.reference import reference_png
from stationthis.engines.preview.render import enlarge, render, work_size

T = TypeVar("T")
MAX_TICKS = 50  # progress events per run, however many steps were asked for
PROFILE_WEIGHT = 0.75
# Every artifact's metadata says which engine, and which version of it, made it.
ENGINE = {"engine": "preview", "engine_version": imageio.ENGINE_VERSION}


class Context:
    """A run's link back to the engine: events, pacing and worker threads."""

    def __init__(
        self, emit: Callable[[EngineEvent], None], total: int, step_delay: float,
        slots: asyncio.Semaphore,
    ) -> None:
        self.emit = emit
        self.total = total
        self.ticks = max(1, min(total, MAX_TICKS))
        self.done = 0
        self.step_delay = step_delay
        self.slots = slots

    async def advance(self, fraction: float) -> None:
        """Emit progress events up to ``fraction`` (0..1) of the run."""
        target = min(self.ticks, int(self.ticks * fraction + 1e-9))
        while self.done < target:
            await asyncio.sleep(self.step_delay)  # also a point where cancellation lands
            self.done += 1
            self.emit(EngineEvent("progress", step=self.step, total=self.total))

    @property
    def step(self) -> int:
        """The step reached so far, in the job's own units."""
        return round(self.total * self.done / self.ticks)

    async def work(self, fn: Callable[..., T], *args: Any) -> T:
        async with self.slots:
            return await asyncio.to_thread(fn, *args)


def input_image(job: JobSpec) -> Image.Image:
    image = job.images.get("image")
    if image is None:
        raise EngineFailed(f"{job.category} needs an input image")
    return imageio.decode(image.data)


def load_profiles(job: JobSpec, names: tuple[str, ...]) -> list[style.Profile]:
    profiles = []
    server = job.params.get("server_loras") or {}
    for name in names:
        if name in server:
            continue  # a server LoRA: one of the preview looks (loras.py), not a profile
        if name not in job.assets:
            raise EngineFailed(f"style profile '{name}' was not provided with the job")
        profiles.append(style.parse_profile(name, job.assets[name]))
    return profiles


def _generate(
    job: JobSpec, p: GenParams, seed: int, profiles: list[style.Profile],
    source: Image.Image | None,
) -> tuple[bytes, bytes]:
    """Render one image; returns (PNG bytes, preview JPEG bytes).

    The picture is composed and styled at its work size, then resampled up once.
    """
    arr = render(analyse(p.prompt, seed, p.negative), *work_size(p.width, p.height))
    weight = PROFILE_WEIGHT / max(1, len(profiles))
    for k, profile in enumerate(profiles):
        arr = style.apply_profile(arr, profile, weight, seed + k)
    arr = server_looks.apply(arr, server_looks.chosen(job.params))
    small = imageio.to_image(arr)
    img = enlarge(small, p.width, p.height)
    meta = p.meta(job.tool, seed)
    if source is not None:
        img = imageio.to_image(
            ops.img2img(imageio.to_array(source), imageio.to_array(img), p.strength)
        )
        small = img
        meta["strength"] = p.strength
    imageio.draw_label(img)
    return imageio.encode_png(img, meta), imageio.encode_preview_jpeg(small)


async def generate(job: JobSpec, ctx: Context) -> list[Artifact]:
    """txt2img and img2img: ``batch`` images with seeds seed, seed+1, ..."""
    source = None
    if job.category == "img2img":
        source = input_image(job)
        fit = min(1.0, MAX_SIDE / max(source.size))  # large inputs default to a size we allow
        p = gen_params(job, size=(round(source.width * fit), round(source.height * fit)))
        if source.size != (p.width, p.height):
            source = ImageOps.fit(source, (p.width, p.height), Image.Resampling.LANCZOS)
    else:
        p = gen_params(job)
    profiles = load_profiles(job, p.loras)
    out = []
    for i in range(p.batch):
        seed = (p.seed + i) % 2**64
        png, jpeg = await ctx.work(_generate, job, p, seed, profiles, source)
        meta = {"seed": seed, "width": p.width, "height": p.height, **ENGINE}
        out.append(Artifact(png, "image/png", f"{job.job_id}_{i}.png", meta))
        await ctx.advance((i + 0.5) / p.batch)
        ctx.emit(EngineEvent("preview", step=ctx.step, total=ctx.total, preview=jpeg))
        await ctx.advance((i + 1) / p.batch)
    return out


def _upscale_png(job: JobSpec, img: Image.Image, scale: int) -> bytes:
    big = ops.upscale(img, scale)
    meta = {"tool": job.tool, "scale": scale, "width": big.width, "height": big.height}
    return imageio.encode_png(big, meta, note="Lanczos resampling, not an AI upscaler")


def _rmbg_png(job: JobSpec, img: Image.Image) -> bytes:
    cut = ops.remove_background(img)
    note = "background removed by colour distance from the border, not an AI model"
    return imageio.encode_png(cut, {"tool": job.tool}, note=note)


async def transform(job: JobSpec, ctx: Context) -> list[Artifact]:
    """upscale, rmbg, outpaint, inpaint and reference: one output image from
    ``images["image"]``."""
    img = input_image(job)
    await ctx.advance(0.25)
    if job.category == "upscale":
        scale = int_param(job.params, "scale", 2, 2, 4)
        if scale not in (2, 4):
            raise EngineFailed(f"scale must be 2 or 4 (got {scale})")
        png = await ctx.work(_upscale_png, job, img, scale)
    elif job.category == "outpaint":
        png = await ctx.work(outpaint_png, job, img)
    elif job.category == "inpaint":
        png = await ctx.work(inpaint_png, job, img)
    elif job.category == "reference":
        png = await ctx.work(reference_png, job, img)
    else:
        png = await ctx.work(_rmbg_png, job, img)
    await ctx.advance(1.0)
    return [Artifact(png, "image/png", f"{job.job_id}_0.png", dict(ENGINE))]


async def train(job: JobSpec, ctx: Context) -> list[Artifact]:
    """Style-profile training: measure every dataset image, then cluster the palette."""
    if not job.images:
        raise EngineFailed("training needs at least one image")
    trigger = str(job.params.get("trigger") or "style").strip() or "style"
    captions = job.params.get("captions") or {}
    if not isinstance(captions, dict):
        raise EngineFailed("captions must map image names to text")
    measured = []
    names = sorted(job.images)
    steps = steps_for(job)
    for i, name in enumerate(names):
        img = imageio.decode(job.images[name].data, what=f"training image '{name}'")
        measured.append(await ctx.work(style.measure, img, i))
        await ctx.advance(0.8 * (i + 1) / len(names))
        if i + 1 == (len(names) + 1) // 2:  # a sample of the style learnt so far
            partial = await ctx.work(style.build_profile, measured, trigger, steps, captions)
            jpeg = await ctx.work(_sample, partial, trigger)
            ctx.emit(EngineEvent("preview", step=ctx.step, total=ctx.total, preview=jpeg,
                                 message="sample"))
    profile = await ctx.work(style.build_profile, measured, trigger, steps, captions)
    jpeg = await ctx.work(_sample, profile, trigger)
    ctx.emit(EngineEvent("preview", step=ctx.step, total=ctx.total, preview=jpeg,
                         message="sample"))
    await ctx.advance(1.0)
    data = json.dumps(profile, indent=2).encode("utf-8")
    meta = {"trigger": trigger, "images": len(names), **ENGINE, "kind": "style"}
    return [Artifact(data, "application/json", f"{job.job_id}.stprofile.json", meta)]


def _sample(profile: dict[str, Any], trigger: str) -> bytes:
    """A small picture of the trigger word in the profile's style, as a training sample."""
    parsed = style.parse_profile(trigger, json.dumps(profile).encode("utf-8"))
    arr = render(analyse(trigger, 0, ""), 192, 192)
    arr = style.apply_profile(arr, parsed, PROFILE_WEIGHT, 0)
    return imageio.encode_preview_jpeg(imageio.to_image(arr))


async def caption(job: JobSpec, ctx: Context) -> list[Artifact]:
    """A descriptive caption from image statistics (text/plain)."""
    text = await ctx.work(describe, input_image(job))
    await ctx.advance(1.0)
    return [Artifact(text.encode("utf-8"), "text/plain", f"{job.job_id}.txt",
                     {**ENGINE, "kind": "caption"})]


async def describe_image(job: JobSpec, ctx: Context) -> list[Artifact]:
    """3–4 prompts from the image's colours, light and composition (text/plain, one a line)."""
    found = await ctx.work(describe_prompts, input_image(job))
    await ctx.advance(1.0)
    return [Artifact("\n".join(found).encode("utf-8"), "text/plain", f"{job.job_id}.txt",
                     {**ENGINE, "kind": "prompts"})]


PIPELINES: dict[str, Callable[[JobSpec, Context], Awaitable[list[Artifact]]]] = {
    "txt2img": generate,
    "img2img": generate,
    "upscale": transform,
    "rmbg": transform,
    "outpaint": transform,
    "inpaint": transform,
    "reference": transform,
    "train": train,
    "caption": caption,
    "describe": describe_image,
}
