"""The preview engine's ``classify`` procedure: a deterministic stand-in for an image
classifier, so the output check (core/review.py) can be tested end to end without a model.

It is honest about what it is: it does not look for anything harmful. It flags an image when

- the prompt the image was made from contains the test word (param ``flag_word``, default
  ``flag-for-review``; matched as a whole word, case-insensitively), or
- the image's mean red level is above ``max_red`` (0-255; default 256: never), a real image
  statistic an operator can use to see the path work on pixels.

The answer is one ``application/json`` artifact: ``{"flagged", "label", "score"}``.
"""

from __future__ import annotations

import json
import re
from io import BytesIO

from PIL import Image, ImageStat

from stationthis.core.engine import Artifact, JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.preview.pipelines import ENGINE, PIPELINES, Context

DEFAULT_FLAG_WORD = "flag-for-review"


def judge(prompt: str, image: bytes, flag_word: str, max_red: float) -> dict[str, object]:
    with Image.open(BytesIO(image)) as img:
        red = float(ImageStat.Stat(img.convert("RGB")).mean[0])
    word = flag_word.strip()
    if word and re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", prompt, re.IGNORECASE):
        return {"flagged": True, "label": "test word in the prompt", "score": 1.0}
    if red > max_red:
        return {"flagged": True, "label": f"mean red {red:.0f} > {max_red:.0f}",
                "score": round(red / 255, 3)}
    return {"flagged": False, "label": "clean", "score": round(red / 255, 3)}


async def classify(job: JobSpec, ctx: Context) -> list[Artifact]:
    image = job.images.get("image")
    if image is None:
        raise EngineFailed("classify needs an input image")
    verdict = await ctx.work(
        judge, str(job.params.get("prompt", "")), image.data,
        str(job.params.get("flag_word", DEFAULT_FLAG_WORD)),
        float(job.params.get("max_red", 256)),
    )
    await ctx.advance(1.0)
    return [Artifact(json.dumps(verdict).encode(), "application/json", f"{job.job_id}.json",
                     {**ENGINE, "kind": "classify", "flagged": verdict["flagged"],
                      "label": verdict["label"]})]


PIPELINES.setdefault("classify", classify)
