"""A tool's inputs as form fields, and a posted form back into tool options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from ....core.tools import Tool, ToolInput

STUDIO_CATEGORIES = ("txt2img", "img2img", "upscale", "rmbg", "other")
PRIMARY = {"prompt", "image", "scale", "strength", "width", "height", "batch", "loras"}
_SIZED_BY_IMAGE = ("upscale", "rmbg", "caption")


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

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def fields_of(tool: Tool, values: dict[str, Any]) -> list[Field]:
    """One field per input a person fills; ``values`` prefill them (else the default)."""
    takes_image = any(spec.type == "image" for spec in tool.inputs.values())
    found = []
    for spec in tool.inputs.values():
        if spec.type == "json" or (spec.name in ("width", "height")
                                   and tool.category in _SIZED_BY_IMAGE):
            continue
        if spec.name in ("width", "height") and takes_image:
            # empty: the input image's size, unless a size is typed in
            found.append(_field(spec, values.get(spec.name), "the image's"))
            continue
        found.append(_field(spec, values.get(spec.name, spec.default)))
    return found


def _field(spec: ToolInput, value: Any, placeholder: str = "") -> Field:
    common: dict[str, Any] = {
        "required": spec.required or spec.name == "prompt", "description": spec.description,
        "primary": spec.name in PRIMARY, "placeholder": placeholder,
    }
    if spec.type == "image":
        return Field(spec.name, "image", value or "", **common)
    if spec.type in ("int", "float"):
        return Field(spec.name, "number", "" if value is None else value, spec.min, spec.max,
                     "1" if spec.type == "int" else "any", **common)
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
