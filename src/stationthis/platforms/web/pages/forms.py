"""A tool's inputs as form fields (bounded by the user's tier, not only the tool), the
aspect-ratio presets of the studio, and a posted form back into tool options."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from stationthis.core.tools import Tool, ToolInput
from stationthis.workflows.limits import LIMITED, Limits

STUDIO_CATEGORIES = ("txt2img", "img2img", "reference", "upscale", "rmbg", "describe", "other")
PRIMARY = {"prompt", "image", "scale", "strength", "batch", "loras"}
ASPECTS = ((1, 1), (4, 3), (3, 4), (16, 9), (9, 16))
_SIZED_BY_IMAGE = ("upscale", "rmbg", "caption", "describe")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # textarea | text | number | checkbox | select | image | list
    value: Any
    min: float | None = None
    max: float | None = None
    step: str = "1"
    choices: tuple[Any, ...] = ()
    required: bool = False
    max_length: int | None = None
    description: str = ""
    primary: bool = True
    placeholder: str = ""
    tier: str | None = None  # the tier whose limit sets min/max, where one does

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def fields_of(tool: Tool, values: dict[str, Any], limits: Limits | None = None) -> list[Field]:
    """One field per input a person fills; ``values`` prefill them (else the default). With
    ``limits`` the bounds are the user's: the tier's range within the tool's."""
    takes_image = any(spec.type == "image" for spec in tool.inputs.values())
    found = []
    for spec in tool.inputs.values():
        if spec.type == "json" or (spec.name in ("width", "height")
                                   and tool.category in _SIZED_BY_IMAGE):
            continue
        if spec.name in ("width", "height") and takes_image:
            # empty: the input image's size, unless a size is typed in
            found.append(_field(spec, values.get(spec.name), limits, "the image's"))
            continue
        found.append(_field(spec, values.get(spec.name, spec.default), limits))
    return found


def _field(spec: ToolInput, value: Any, limits: Limits | None, placeholder: str = "") -> Field:
    common: dict[str, Any] = {
        "required": spec.required or spec.name == "prompt", "description": spec.description,
        "primary": spec.name in PRIMARY, "placeholder": placeholder,
    }
    if spec.type == "image":
        return Field(spec.name, "image", value or "", **common)
    if spec.type in ("int", "float"):
        low, high, tier = spec.min, spec.max, None
        if limits is not None and spec.name in LIMITED:
            bound = limits.bound(spec.name, spec)
            low, high, tier = bound.low, bound.high, bound.tier
        return Field(spec.name, "number", "" if value is None else value, _num(low),
                     _num(high), "1" if spec.type == "int" else "any", tier=tier, **common)
    if spec.type == "bool":
        return Field(spec.name, "checkbox", bool(value), **common)
    if spec.type == "choice":
        return Field(spec.name, "select", value, choices=spec.choices or (), **common)
    if spec.type == "list":
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else (value or "")
        return Field(spec.name, "list", text, **common)
    kind = "textarea" if spec.name in ("prompt", "negative") else "text"
    return Field(spec.name, kind, "" if value is None else value,
                 max_length=spec.max_length, **common)


def options_of(tool: Tool, form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """(options, images) from a posted studio form: empty fields are left to the user's
    settings and the tool's defaults; values are checked by the tool itself."""
    options: dict[str, Any] = {}
    images: dict[str, str] = {}
    for name, spec in tool.inputs.items():
        raw = form.get(name)
        if not isinstance(raw, str):
            continue
        value = raw.strip() if spec.type != "str" else raw
        if value == "":
            continue
        if spec.type == "image":
            images[name] = value
        elif spec.type == "list":
            options[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            options[name] = value
    return options, images


def _num(value: float | None) -> float | None:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ----- aspect-ratio presets -------------------------------------------------------------------


@dataclass(frozen=True)
class Aspect:
    label: str  # "16:9"
    width: int
    height: int
    selected: bool


def aspects(tool: Tool, values: dict[str, Any], limits: Limits) -> list[Aspect]:
    """The studio's aspect presets for a tool that takes a size: each keeps about the area of
    the current size (the user's setting or the tool's default), within the tier's and the
    tool's bounds; none for tools sized by their input image."""
    w_spec, h_spec = tool.inputs.get("width"), tool.inputs.get("height")
    takes_image = any(spec.type == "image" for spec in tool.inputs.values())
    if w_spec is None or h_spec is None or takes_image or tool.category in _SIZED_BY_IMAGE:
        return []
    width = _int(values.get("width"), w_spec.default, 512)
    height = _int(values.get("height"), h_spec.default, 512)
    w_bound, h_bound = limits.bound("width", w_spec), limits.bound("height", h_spec)
    area = width * height
    found = []
    for a, b in ASPECTS:
        w = math.sqrt(area * a / b)
        h = w * b / a
        scale = min(1.0, math.sqrt(limits.max_pixels / (w * h)),
                    (w_bound.high or math.inf) / w, (h_bound.high or math.inf) / h)
        w, h = w * scale, h * scale
        w_int = max(int(w_bound.low or 8), int(w) // 8 * 8)
        h_int = max(int(h_bound.low or 8), int(h) // 8 * 8)
        same = abs(width * b - height * a) <= 0.02 * max(width * b, height * a)
        found.append(Aspect(f"{a}:{b}", w_int, h_int, same))
    if sum(a.selected for a in found) > 1:  # only one can be chosen
        first = next(a for a in found if a.selected)
        found = [Aspect(a.label, a.width, a.height, a is first) for a in found]
    return found


def _int(value: Any, default: Any, fallback: int) -> int:
    for candidate in (value, default):
        try:
            number = int(candidate)
        except (TypeError, ValueError):
            continue
        if number > 0:
            return number
    return fallback
