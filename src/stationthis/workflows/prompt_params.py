"""Midjourney-style parameters written in a prompt: ``a red fox --ar 16:9 --seed 5 --no text
--steps 30 --batch 2``.

``parse`` takes them out of the prompt text (pure: no tool, no user); ``apply`` turns the
ones that depend on the tool and the tier (``--ar``, ``--no``) into inputs. The make-image
workflow calls both once, where a request's options are prepared, so every platform — the
web API and pages, the CLI, Telegram and Discord — gets the same parameters and the same
checks and messages as options given any other way.

The rules:

- A parameter starts with ``--`` (or the ``—``/``–`` a phone keyboard makes of it) at the
  start of the prompt or after a space: ``--ar W:H`` (also ``--aspect``), ``--seed N``,
  ``--steps N``, ``--batch N``, and ``--no TEXT`` (everything up to the next parameter: what
  to keep out of the image; it is added to the negative prompt), and ``--style NAME`` (a
  saved style of the user's or the group's: workflows/styles.py). Any other ``--name`` is
  refused naming the known ones, rather than drawn as words.
- What is written in the prompt wins over the request's other options and over saved
  settings: it is what the person typed last, and forms send their defaults too.
- ``--ar`` sets width and height to that ratio at about the area the request would have had
  otherwise (the explicit size, else the user's setting, else the tool's default), each side
  a multiple of 8 (rounded down, as the studio's aspect presets are), shrunk if needed to fit
  the tier's largest side and largest area. 16:9 at 512×512 gives 680×384; 9:16 gives
  384×680. Ratios between 1:4 and 4:1 are allowed.
- The values are then checked like any other input: ``--steps 500`` is refused with the
  tier's range, ``--seed x`` with "seed must be an integer".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from stationthis.core.errors import InvalidInput
from stationthis.core.tools import IMAGE_ONLY, Tool

NAMES = {"ar": "ar", "aspect": "ar", "seed": "seed", "steps": "steps", "batch": "batch",
         "no": "no", "style": "style"}
KNOWN = "--ar W:H, --seed N, --steps N, --batch N, --no TEXT, --style NAME"
MAX_RATIO = 4.0
SIDE_STEP = 8  # latent images are 1/8 of the picture: sides are multiples of 8
_MARK = re.compile(r"(?:(?<=\s)|^)(?:--|—|–)([A-Za-z][A-Za-z_-]*)(?=\s|$)")
_RATIO = re.compile(r"^(\d{1,4})\s*[:x×]\s*(\d{1,4})$")


@dataclass(frozen=True)
class Inline:
    """What a prompt said: the text without its parameters, the plain options it set
    (``seed``, ``steps``, ``batch``, as typed), and the ratio and exclusions to apply."""

    prompt: str
    options: dict[str, str] = field(default_factory=dict)
    ratio: tuple[int, int] | None = None
    no: str | None = None
    style: str | None = None

    @property
    def any(self) -> bool:
        return (bool(self.options) or self.ratio is not None or self.no is not None
                or self.style is not None)


def parse(prompt: str) -> Inline:
    """The parameters written in ``prompt`` (InvalidInput for an unknown or malformed one, or
    one given twice)."""
    marks = list(_MARK.finditer(prompt))
    if not marks:
        return Inline(prompt)
    words = [prompt[:marks[0].start()]]
    seen: dict[str, str] = {}
    for i, mark in enumerate(marks):
        written = mark.group(1)
        name = NAMES.get(written.lower())
        if name is None:
            raise InvalidInput(f"unknown parameter --{written} in the prompt; known: {KNOWN}",
                               input="prompt")
        if name in seen:
            raise InvalidInput(f"--{name} is given twice in the prompt", input="prompt")
        end = marks[i + 1].start() if i + 1 < len(marks) else len(prompt)
        body = prompt[mark.end():end].strip()
        if name == "no":
            value, rest = body, ""
        else:
            value, _, rest = body.partition(" ")
        if not value.strip(" ,"):
            raise InvalidInput(f"--{written} needs a value, e.g. {_example(name)}",
                               input="prompt")
        seen[name] = value.strip(" ,")
        words.append(rest)
    text = " ".join(w.strip() for w in words if w.strip())
    ratio = _ratio(seen.pop("ar")) if "ar" in seen else None
    no = seen.pop("no", None)
    style = seen.pop("style", None)
    return Inline(text, seen, ratio, no, style)


def take(options: dict[str, Any]) -> Inline | None:
    """Take the parameters out of ``options["prompt"]`` in place: the prompt becomes its
    text and ``seed``/``steps``/``batch`` written there replace the options'. None: there
    were none."""
    prompt = options.get("prompt")
    if not isinstance(prompt, str):
        return None
    inline = parse(prompt)
    if not inline.any:
        return None
    options["prompt"] = inline.prompt
    options.update(inline.options)
    return inline


def apply(tool: Tool, params: dict[str, Any], inline: Inline, *, max_side: float,
          max_pixels: int) -> dict[str, Any]:
    """``params`` (resolved) with ``--ar`` and ``--no`` applied: the size at the ratio within
    ``max_side`` (the tier's and tool's largest side) and ``max_pixels``; the exclusions
    added to the negative prompt (checked as that input is)."""
    out = dict(params)
    if inline.ratio is not None:
        if (tool.category in IMAGE_ONLY or "width" not in tool.inputs
                or "height" not in tool.inputs):
            raise InvalidInput(f"--ar does not apply to {tool.name}: its size is the image's",
                               input="prompt")
        area = int(out.get("width") or 512) * int(out.get("height") or 512)
        out["width"], out["height"] = size_for(inline.ratio, area, max_side, max_pixels)
    if inline.no is not None:
        spec = tool.inputs.get("negative")
        if spec is None:
            raise InvalidInput(f"--no does not apply to {tool.name}: it has no negative prompt",
                               input="prompt")
        before = str(out.get("negative") or "").strip(" ,")
        out["negative"] = spec.check(f"{before}, {inline.no}" if before else inline.no)
    return out


def size_for(ratio: tuple[int, int], area: int, max_side: float,
             max_pixels: int) -> tuple[int, int]:
    """Width and height at ``ratio`` with about ``area`` pixels, multiples of 8 (rounded
    down), no side over ``max_side`` and no more than ``max_pixels``."""
    a, b = ratio
    width = math.sqrt(area * a / b)
    height = width * b / a
    scale = min(1.0, math.sqrt(max_pixels / (width * height)), max_side / width,
                max_side / height)
    return (max(SIDE_STEP, int(width * scale) // SIDE_STEP * SIDE_STEP),
            max(SIDE_STEP, int(height * scale) // SIDE_STEP * SIDE_STEP))


def _ratio(text: str) -> tuple[int, int]:
    found = _RATIO.match(text)
    if found is None or not int(found.group(1)) or not int(found.group(2)):
        raise InvalidInput(f"--ar takes W:H, e.g. --ar 16:9 (got {text!r})", input="prompt")
    a, b = int(found.group(1)), int(found.group(2))
    if max(a / b, b / a) > MAX_RATIO:
        raise InvalidInput(f"--ar must be between 1:4 and 4:1 (got {a}:{b})", input="prompt")
    divisor = math.gcd(a, b)
    return a // divisor, b // divisor


def _example(name: str) -> str:
    return {"ar": "--ar 16:9", "seed": "--seed 5", "steps": "--steps 30",
            "batch": "--batch 2", "no": "--no text, watermark", "style": "--style noir"}[name]
