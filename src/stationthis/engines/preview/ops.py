"""Image operations that are real, if simple: resampling, background removal, img2img."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from stationthis.engines.preview.imageio import check_size
from stationthis.engines.preview.stats import kmeans

Array = np.ndarray
MASK_SIDE = 1024  # background masks are computed at most this large, then resampled
MAX_GROW_ROUNDS = 400


def upscale(img: Image.Image, scale: int) -> Image.Image:
    """Lanczos resampling to exactly ``scale`` times the input size."""
    width, height = img.width * scale, img.height * scale
    check_size(width, height)
    return img.resize((width, height), Image.Resampling.LANCZOS)


def img2img(source: Array, prompt_image: Array, strength: float) -> Array:
    """Re-render ``source`` toward ``prompt_image`` (same shape); ``strength`` 0..1.

    Up to 0.5 the source keeps its structure while taking on the prompt image's colours
    (per-channel mean/contrast transfer); above 0.5 the prompt image itself fades in.
    """
    if strength <= 0.0:
        return source.copy()
    mu_s, sd_s = source.mean(axis=(0, 1)), source.std(axis=(0, 1)) + 1e-4
    mu_p, sd_p = prompt_image.mean(axis=(0, 1)), prompt_image.std(axis=(0, 1))
    transfer = (source - mu_s) * np.clip(sd_p / sd_s, 0.3, 3.0) + mu_p
    out = source + (np.clip(transfer, 0.0, 1.0) - source) * min(1.0, strength / 0.5)
    fade = float(np.clip((strength - 0.5) / 0.5, 0.0, 1.0)) * 0.85
    out += (prompt_image - out) * fade
    result: Array = np.clip(out, 0.0, 1.0)
    return result


def remove_background(img: Image.Image) -> Image.Image:
    """An RGBA copy of ``img`` whose background (what touches the border) is transparent.

    The background colours are estimated from the border by k-means; pixels close to one
    of them *and* connected to the border through such pixels become transparent, and the
    mask edge is feathered slightly.
    """
    rgb = img.convert("RGB")
    work = rgb.copy()
    work.thumbnail((MASK_SIDE, MASK_SIDE), Image.Resampling.BOX)
    arr = np.asarray(work, dtype=np.float32) / 255.0
    background = background_mask(arr)
    alpha = Image.fromarray(np.where(background, 0, 255).astype(np.uint8), mode="L")
    radius = max(0.7, min(work.size) / 400)
    alpha = alpha.filter(ImageFilter.GaussianBlur(radius))
    if alpha.size != rgb.size:
        alpha = alpha.resize(rgb.size, Image.Resampling.BILINEAR)
    if img.mode == "RGBA":  # keep whatever was transparent already
        alpha = ImageChops.darker(alpha, img.getchannel("A"))
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return out


def background_mask(arr: Array) -> Array:
    """True where a pixel belongs to the border-connected background of ``arr`` (HxWx3)."""
    height, width = arr.shape[:2]
    band = max(2, round(0.02 * min(height, width)))
    border = np.zeros((height, width), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    edge_pixels = arr[border]
    if len(edge_pixels) > 20_000:
        edge_pixels = edge_pixels[:: len(edge_pixels) // 20_000 + 1]
    centres, weights = kmeans(edge_pixels, 3, 12)
    centres = centres[weights >= 0.1]

    candidate = np.zeros((height, width), bool)
    edge_dist = np.sqrt(((edge_pixels[:, None, :] - centres[None]) ** 2).sum(axis=2))
    nearest = edge_dist.argmin(axis=1)
    for j, centre in enumerate(centres):
        spread = edge_dist[nearest == j, j]
        noise = float(np.percentile(spread, 90)) if spread.size else 0.0
        threshold = max(0.1, 2.0 * noise + 0.05)
        candidate |= ((arr - centre) ** 2).sum(axis=2) < threshold**2
    background: Array = grow(candidate, candidate & border)
    return background


def grow(allowed: Array, seeds: Array) -> Array:
    """The pixels of ``allowed`` 4-connected to ``seeds`` (a flood fill, vectorised).

    Alternates row and column sweeps; in each sweep a whole run of allowed pixels is reached
    as soon as any pixel in it is, so most images settle in a handful of rounds.
    """
    reached: Array = seeds & allowed
    count = int(reached.sum())
    for _ in range(MAX_GROW_ROUNDS):
        reached = _sweep_rows(allowed, reached)
        reached = _sweep_rows(allowed.T, reached.T).T
        now = int(reached.sum())
        if now == count:
            break
        count = now
    return reached


def _sweep_rows(allowed: Array, reached: Array) -> Array:
    height, width = allowed.shape
    padded = np.zeros((height, width + 1), bool)  # a False column keeps runs within rows
    padded[:, :width] = allowed
    flat = padded.ravel()
    starts = flat.copy()
    starts[1:] &= ~flat[:-1]
    run_id = np.cumsum(starts) * flat  # 0 outside runs, 1.. for each run
    hit = np.zeros((height, width + 1), bool)
    hit[:, :width] = reached
    touched = np.bincount(run_id[hit.ravel()], minlength=int(starts.sum()) + 1) > 0
    touched[0] = False
    swept: Array = touched[run_id].reshape(height, width + 1)[:, :width]
    return swept
