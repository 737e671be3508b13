"""Small image statistics shared by the style trainer and background removal."""

from __future__ import annotations

import numpy as np
from PIL import Image

Array = np.ndarray

LUMA = np.asarray([0.2126, 0.7152, 0.0722], np.float32)
ANALYSIS_SIDE = 160  # images are measured at this size, so statistics ignore resolution


def luminance(rgb: Array) -> Array:
    """Luminance of a float 0..1 array (..., 3)."""
    return rgb @ LUMA


def saturation(rgb: Array) -> Array:
    """HSV saturation of a float 0..1 array (..., 3)."""
    hi, lo = rgb.max(axis=-1), rgb.min(axis=-1)
    sat: Array = (hi - lo) / np.maximum(hi, 1e-4)
    return sat


def gradient_magnitude(lum: Array) -> Array:
    """Per-pixel gradient magnitude of a 2-D luminance array (forward differences)."""
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, :-1] = np.diff(lum, axis=1)
    gy[:-1, :] = np.diff(lum, axis=0)
    magnitude: Array = np.sqrt(gx * gx + gy * gy)
    return magnitude


def analysis_view(rgb: Array) -> Array:
    """The array resampled so its longer side is ``ANALYSIS_SIDE`` (for texture measures)."""
    height, width = rgb.shape[:2]
    scale = ANALYSIS_SIDE / max(height, width)
    if abs(scale - 1.0) < 1e-6:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    data = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    small = Image.fromarray(data, mode="RGB").resize(size, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def texture_energy(rgb: Array) -> float:
    """Mean luminance gradient at analysis size: 0 for flat images, ~0.1+ for busy ones."""
    return float(gradient_magnitude(luminance(analysis_view(rgb))).mean())


def kmeans(points: Array, k: int, iterations: int, seed: int = 0) -> tuple[Array, Array]:
    """Cluster ``points`` (N, D) into at most ``k`` groups; returns (centres, weights).

    Deterministic: k-means++ seeding from a fixed generator, then Lloyd iterations.
    Weights are the share of points in each cluster; clusters are sorted by weight.
    """
    rng = np.random.default_rng(seed)
    n = len(points)
    k = max(1, min(k, n))
    centres = [points[int(rng.integers(n))]]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        if d2.sum() <= 1e-12:
            break
        centres.append(points[int(rng.choice(n, p=d2 / d2.sum()))])
        d2 = np.minimum(d2, ((points - centres[-1]) ** 2).sum(axis=1))
    c = np.asarray(centres, np.float32)
    labels = np.zeros(n, int)
    for _ in range(max(1, iterations)):
        dist = ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        labels = dist.argmin(axis=1)
        moved = np.asarray(
            [points[labels == j].mean(axis=0) if np.any(labels == j) else c[j]
             for j in range(len(c))],
            np.float32,
        )
        if np.allclose(moved, c, atol=1e-4):
            c = moved
            break
        c = moved
    weights = np.bincount(labels, minlength=len(c)).astype(np.float32) / n
    order = np.argsort(-weights, kind="stable")
    return c[order], weights[order]
