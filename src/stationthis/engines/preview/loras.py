"""The preview engine's "server LoRAs": a few fixed, honestly named procedural looks, so that
listing, naming, trigger words and price factors of server LoRAs work and show offline.

They are not LoRA files and no model is involved: each is a deterministic filter applied to
the generated picture, blended by the LoRA's strength (0 leaves the picture as it was).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stationthis.core.errors import EngineFailed


def _luma(arr: np.ndarray) -> np.ndarray:
    out: np.ndarray = arr[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return out


def _ink(arr: np.ndarray) -> np.ndarray:
    """Black ink on paper: strong dark lines where the picture is dark or changes."""
    lum = _luma(arr)
    gy, gx = np.gradient(lum)
    edges = np.clip(np.hypot(gx, gy) * 6.0, 0.0, 1.0)
    ink = np.clip((lum > 0.45).astype(np.float32) - edges, 0.0, 1.0)
    paper = np.array([0.96, 0.94, 0.88], np.float32)
    out: np.ndarray = ink[..., None] * paper
    return out


def _neon(arr: np.ndarray) -> np.ndarray:
    """Glowing edges in magenta and cyan on near-black."""
    lum = _luma(arr)
    gy, gx = np.gradient(lum)
    edges = np.clip(np.hypot(gx, gy) * 8.0, 0.0, 1.0)
    out = np.zeros((*lum.shape, 3), np.float32)
    out[..., 0] = edges * 1.0 + 0.04
    out[..., 1] = edges * lum * 0.9 + 0.02
    out[..., 2] = edges * 0.9 + (1 - lum) * 0.12 + 0.05
    return np.clip(out, 0.0, 1.0)


def _sepia(arr: np.ndarray) -> np.ndarray:
    """An old photograph: brown tones, faded."""
    lum = _luma(arr)
    tone = np.array([1.0, 0.82, 0.6], np.float32)
    out: np.ndarray = np.clip(0.08 + lum[..., None] * tone * 0.9, 0.0, 1.0)
    return out


def _pixel(arr: np.ndarray) -> np.ndarray:
    """Pixel art: big square pixels and 4 levels per channel."""
    h, w = arr.shape[:2]
    block = max(2, min(h, w) // 32)
    small = arr[::block, ::block, :3]
    big = np.repeat(np.repeat(small, block, axis=0), block, axis=1)[:h, :w]
    out: np.ndarray = np.round(big * 3.0) / 3.0
    return out


EFFECTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "preview-ink.safetensors": _ink,
    "preview-neon.safetensors": _neon,
    "preview-sepia.safetensors": _sepia,
    "preview-pixel.safetensors": _pixel,
}
NAMES = sorted(EFFECTS)


def apply(arr: np.ndarray, loras: list[tuple[str, float]]) -> np.ndarray:
    """``arr`` (float 0..1, HxWx3) with each (file, strength) look blended in, in order."""
    for file_name, strength in loras:
        effect = EFFECTS.get(file_name)
        if effect is None:
            raise EngineFailed(
                f"the preview engine has no LoRA {file_name!r}; it has {', '.join(NAMES)}")
        weight = float(np.clip(strength, 0.0, 1.0))
        if weight <= 0.0:
            continue
        looked = effect(arr[..., :3].astype(np.float32))
        rgb = arr[..., :3] * (1.0 - weight) + looked * weight
        arr = np.concatenate([rgb, arr[..., 3:]], axis=2) if arr.shape[2] == 4 else rgb
    return arr


def chosen(params: dict[str, object]) -> list[tuple[str, float]]:
    """(file, strength) of each server LoRA a job's parameters name (``server_loras``: name
    → file; strengths from ``lora_scales``, default 1)."""
    files = params.get("server_loras") or {}
    scales = params.get("lora_scales") or {}
    if not isinstance(files, dict) or not isinstance(scales, dict):
        raise EngineFailed("server_loras and lora_scales must map LoRA names to values")
    out = []
    for name, file_name in files.items():
        try:
            strength = float(scales.get(name, 1.0))
        except (TypeError, ValueError):
            raise EngineFailed(f"the strength of LoRA '{name}' must be a number") from None
        out.append((str(file_name), strength))
    return out
