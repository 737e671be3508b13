"""Preview-engine throughput, beside a baseline measured in the same run.

Run: ``.venv/bin/python bench/preview.py`` (add ``--seconds 1`` for a quicker, noisier run).

For each size it prints images per second for
- the preview engine, through submit -> events -> result, one job at a time;
- the preview engine with two jobs in flight (its default ``max_parallel=2``);
- a baseline: allocating a random uint8 image of the same size with numpy and encoding it
  to PNG with Pillow's default settings, i.e. the cost of merely producing a PNG that size.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import time
from collections.abc import Awaitable, Callable

import numpy as np
from PIL import Image

from stationthis.core.engine import JobSpec
from stationthis.engines.preview import PreviewEngine

PROMPTS = ["a red fox in a forest", "blue ocean at night", "golden sunset over dunes",
           "neon city in the rain", "snowy mountains at dawn", "a lighthouse on a cliff"]


def job(n: int, size: int) -> JobSpec:
    params = {"prompt": PROMPTS[n % len(PROMPTS)], "seed": n, "width": size, "height": size}
    return JobSpec(f"bench-{size}-{n}", "bench", "txt2img", params)


async def one(engine: PreviewEngine, spec: JobSpec) -> None:
    handle = await engine.submit(spec)
    async for _ in engine.events(handle):
        pass
    artifacts = await engine.result(handle)
    assert artifacts and artifacts[0].data.startswith(b"\x89PNG")


async def rate(make: Callable[[int], Awaitable[int]], seconds: float, min_count: int) -> float:
    """Images per second: call ``make(i)`` (returning images made) until time is up."""
    await make(-1)  # warm up (imports, caches, thread pool)
    done, i, start = 0, 0, time.perf_counter()
    while done < min_count or time.perf_counter() - start < seconds:
        done += await make(i)
        i += 1
    return done / (time.perf_counter() - start)


async def engine_rate(size: int, seconds: float, parallel: int) -> float:
    engine = PreviewEngine()
    counter = iter(range(10**9))

    async def make(_: int) -> int:
        await asyncio.gather(*(one(engine, job(next(counter), size)) for _ in range(parallel)))
        return parallel

    return await rate(make, seconds, 4)


async def baseline_rate(size: int, seconds: float) -> float:
    rng = np.random.default_rng(0)

    async def make(_: int) -> int:
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        return 1

    return await rate(make, seconds, 4)


async def main(seconds: float) -> None:
    print(f"preview engine throughput, {os.cpu_count()} CPU(s), ~{seconds:g} s per cell\n")
    head = f"{'size':>10} | {'engine, 1 at a time':>20} | {'engine, 2 in flight':>20} | "
    head += f"{'baseline: random PNG':>21}"
    print(head)
    print("-" * len(head))
    for size in (512, 1024):
        serial = await engine_rate(size, seconds, 1)
        paired = await engine_rate(size, seconds, 2)
        base = await baseline_rate(size, seconds)
        print(f"{size:>5}x{size:<4} | {serial:>14.1f} img/s | {paired:>14.1f} img/s | "
              f"{base:>15.1f} img/s")
    print("\nEngine images are txt2img at 20 steps, no step delay, PNG compress_level=3;")
    print("the baseline uses Pillow's default PNG settings on incompressible random pixels.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    asyncio.run(main(parser.parse_args().seconds))
