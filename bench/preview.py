"""Preview-engine throughput, beside baselines measured in the same run.

Run: ``.venv/bin/python bench/preview.py`` (add ``--seconds 1`` for a quicker, noisier run).

For each size it prints images per second for
- the preview engine, through submit -> events -> result, one job at a time;
- the preview engine with two jobs in flight (its default ``max_parallel=2``);
- baseline "same PNG": a random uint8 image of the same size made with numpy and encoded with
  the engine's own PNG writer at the engine's level (Up filter, deflate level 1: ISA-L when
  the optional ``isal`` package is installed, else zlib), i.e. the cost of merely producing
  a PNG that size the way the engine does;
- baseline "Pillow level 3": the same random image through Pillow at compress_level=3, the
  encoder and level engine version 1 used (kept so the comparison with it stays honest);
- the ratio of the engine (2 in flight) to the same-PNG baseline;
- the engine's CPU time per image (all threads, from ``os.times``; the mean of the two
  engine cells), and the rate two idle cores could reach at that cost: on a shared, loaded
  machine the wall-clock rates fall, the CPU time much less.

The goal (issue 15): at least 20 images/s at 1024x1024 on the 2-core machine.
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
from stationthis.engines.preview.imageio import ENGINE_VERSION, PNG_LEVEL, deflater, write_png

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


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


async def rate(
    make: Callable[[int], Awaitable[int]], seconds: float, min_count: int
) -> tuple[float, float]:
    """(images per second, CPU seconds per image): call ``make(i)`` (returning images made)
    until time is up."""
    await make(-1)  # warm up (imports, caches, thread pool)
    done, i, start, cpu = 0, 0, time.perf_counter(), cpu_seconds()
    while done < min_count or time.perf_counter() - start < seconds:
        done += await make(i)
        i += 1
    return done / (time.perf_counter() - start), (cpu_seconds() - cpu) / done


async def engine_rate(size: int, seconds: float, parallel: int) -> tuple[float, float]:
    engine = PreviewEngine()
    counter = iter(range(10**9))

    async def make(_: int) -> int:
        await asyncio.gather(*(one(engine, job(next(counter), size)) for _ in range(parallel)))
        return parallel

    return await rate(make, seconds, 4)


async def baseline_rate(size: int, seconds: float, pillow_level: int | None) -> float:
    """Random pixels + PNG: the engine's writer, or Pillow at ``pillow_level``."""
    rng = np.random.default_rng(0)

    async def make(_: int) -> int:
        img = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        if pillow_level is None:
            write_png(img, {"Software": "bench"})
        else:
            img.save(io.BytesIO(), format="PNG", compress_level=pillow_level)
        return 1

    return (await rate(make, seconds, 4))[0]


async def main(seconds: float) -> None:
    print(f"preview engine v{ENGINE_VERSION} throughput (PNG deflate: {deflater()}), "
          f"{os.cpu_count()} CPU(s), "
          f"~{seconds:g} s per cell, load average before: {os.getloadavg()[0]:.1f}\n")
    head = (f"{'size':>9} | {'engine, 1':>10} | {'engine, 2':>10} | {'same PNG':>9} | "
            f"{'Pillow L3':>9} | {'ratio':>5} | {'CPU/img':>7} | {'2 idle cores':>12}")
    print(head)
    print("-" * len(head))
    for size in (512, 1024):
        serial, cpu1 = await engine_rate(size, seconds, 1)
        paired, cpu2 = await engine_rate(size, seconds, 2)
        same = await baseline_rate(size, seconds, None)
        old = await baseline_rate(size, seconds, 3)
        cpu = (cpu1 + cpu2) / 2
        print(f"{size:>4}x{size:<4} | {serial:>10.1f} | {paired:>10.1f} | {same:>9.1f} | "
              f"{old:>9.1f} | {paired / same:>5.2f} | {cpu * 1000:>4.0f} ms | "
              f"{2 / cpu:>8.1f} /s")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}. Rates are images/s (wall clock).")
    print("engine, 1 / 2: txt2img at 20 steps, no step delay, one job / two jobs in flight.")
    print(f"same PNG: random pixels through the engine's PNG writer (Up filter, {deflater()} "
          f"level {PNG_LEVEL}); Pillow L3: random pixels, Pillow at compress_level=3 (v1's).")
    print("ratio: engine (2 in flight) / same PNG. CPU/img: the engine's CPU time per image;")
    print("2 idle cores: 2 / CPU/img, the rate this cost allows when nothing else runs.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    asyncio.run(main(parser.parse_args().seconds))
