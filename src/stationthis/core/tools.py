"""Tools: ComfyUI API-format workflow templates with typed inputs, a category and a price.

A tool file is JSON: ``{"name", "category", "description", "graph", "inputs"?, "cost"?}``.
``inputs`` maps each public input to the graph field it fills. Without ``inputs``, they are
discovered from the graph by the original system's convention: nodes whose ``_meta.title``
or id is ``input_<name>`` (ComfyUI Deploy external-input nodes, value in ``default_value``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stationthis.core.errors import InvalidInput, NotFound

CATEGORIES = {
    "txt2img", "img2img", "upscale", "rmbg", "outpaint", "inpaint", "reference", "describe",
    "train", "caption", "other",
}
IMAGE_ONLY = {"upscale", "rmbg", "outpaint", "describe"}  # tools that need no prompt
TYPES = {"str", "int", "float", "bool", "image", "choice", "list", "json"}
# The type names people bring from ComfyUI (STRING, INT, FLOAT, BOOLEAN, IMAGE, COMBO) and
# JSON Schema (string, integer, number, boolean, array, object), in any case.
TYPE_ALIASES = {
    "string": "str", "text": "str", "integer": "int", "number": "float", "boolean": "bool",
    "combo": "choice", "enum": "choice", "array": "list", "object": "json",
}
SEED_MAX = 2**32 - 1
_PRIVATE = ("node", "field", "factor")  # graph wiring, not shown to users

# ComfyUI Deploy external-input node classes → our input types.
_DEPLOY_TYPES = {
    "ComfyUIDeployExternalText": "str",
    "ComfyUIDeployExternalTextAny": "str",
    "ComfyUIDeployExternalNumberInt": "int",
    "ComfyUIDeployExternalNumber": "float",
    "ComfyUIDeployExternalNumberSlider": "float",
    "ComfyUIDeployExternalBoolean": "bool",
    "ComfyUIDeployExternalImage": "image",
    "ComfyUIDeployExternalSeed": "int",
}


@dataclass(frozen=True)
class ToolInput:
    name: str
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    max_length: int | None = None
    required: bool = False
    node: str | None = None
    field: str | None = None
    description: str = ""
    factor: float | None = None  # the graph field gets value × factor

    def check(self, value: Any) -> Any:
        """The value converted to this input's type, or InvalidInput naming the allowed range."""
        label = self.name
        if self.type == "str":
            text = str(value)
            if self.max_length is not None and len(text) > self.max_length:
                raise InvalidInput(
                    f"{label} is {len(text)} characters long; the limit is {self.max_length}",
                    input=label,
                )
            return text
        if self.type in ("int", "float"):
            try:
                num: float = int(value) if self.type == "int" else float(value)
                if self.type == "int" and isinstance(value, float) and not value.is_integer():
                    raise ValueError
                if not math.isfinite(num):
                    raise ValueError
            except (TypeError, ValueError, OverflowError):
                what = "an integer" if self.type == "int" else "a number"
                raise InvalidInput(f"{label} must be {what}", input=label) from None
            if (self.min is not None and num < self.min) or (
                self.max is not None and num > self.max
            ):
                raise InvalidInput(
                    f"{label} must be between {_fmt(self.min)} and {_fmt(self.max)} "
                    f"(got {_fmt(num)})",
                    input=label, min=self.min, max=self.max,
                )
            return num
        if self.type == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if self.type == "choice":
            assert self.choices is not None
            for choice in self.choices:
                if str(choice) == str(value):
                    return choice
            allowed = ", ".join(str(c) for c in self.choices)
            raise InvalidInput(f"{label} must be one of {allowed}", input=label)
        if self.type == "list":
            items = value if isinstance(value, list) else [v for v in str(value).split(",") if v]
            return [str(v).strip() for v in items]
        if self.type == "json":
            if not isinstance(value, dict | list):
                raise InvalidInput(f"{label} must be structured data", input=label)
            return value
        return value  # image: a media id, checked by the caller


@dataclass(frozen=True)
class CostFormula:
    """points = (base + ⌈pixels/512²⌉·per_tile + ⌈max(0, steps−free_steps)·per_step⌉) · batch"""

    base: int
    per_tile: int
    per_step: float
    free_steps: int

    def price(self, params: dict[str, Any], scale_pixels: bool = False) -> int:
        width = int(params.get("width") or 512)
        height = int(params.get("height") or 512)
        if scale_pixels:
            factor = int(params.get("scale") or 1)
            width, height = width * factor, height * factor
        tiles = math.ceil(width * height / (512 * 512))
        steps = int(params.get("steps") or 0)
        extra = math.ceil(max(0, steps - self.free_steps) * self.per_step)
        batch = int(params.get("batch") or 1)
        return (self.base + tiles * self.per_tile + extra) * batch


@dataclass
class Tool:
    name: str
    category: str
    description: str
    graph: dict[str, Any]
    inputs: dict[str, ToolInput]
    cost: CostFormula
    scale_pixels: bool = False
    source: str = "builtin"
    meta: dict[str, Any] = field(default_factory=dict)
    version: str = ""  # a hash of the tool file: which exact template a job ran

    @property
    def needs_prompt(self) -> bool:
        return "prompt" in self.inputs and self.category not in IMAGE_ONLY

    def resolve(self, *layers: dict[str, Any]) -> dict[str, Any]:
        """Value order: the first layer that has a value wins, then the tool default.

        Pass (explicit options, user settings). Unknown option names are refused; unknown
        settings keys are ignored (settings are shared by all tools). A seed of -1 or None
        becomes a concrete random seed, so every job can be reproduced.
        """
        explicit = layers[0] if layers else {}
        unknown = sorted(set(explicit) - set(self.inputs))
        if unknown:
            raise InvalidInput(
                f"{self.name} has no option {unknown[0]!r}; options: {', '.join(self.inputs)}"
            )
        params: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            if spec.type == "image":
                continue  # images are media ids, checked and passed apart from params
            value = next(
                (layer[name] for layer in layers if layer.get(name) not in (None, "")), spec.default
            )
            if value is None:
                if spec.required or (name == "prompt" and self.needs_prompt):
                    raise InvalidInput(f"{self.name} needs {_article(name)}", input=name)
                continue
            params[name] = spec.check(value)
        if "prompt" in params and self.needs_prompt and not str(params["prompt"]).strip():
            raise InvalidInput("the prompt is empty: describe the image you want", input="prompt")
        if "seed" in self.inputs and int(params.get("seed", -1)) < 0:
            params["seed"] = random.randint(0, SEED_MAX)
        return params

    def price(self, params: dict[str, Any]) -> int:
        """The configured price, times ``_price_factor`` when the request uses LoRAs an
        operator priced (workflows/using_loras.py), rounded up."""
        points = self.cost.price(params, self.scale_pixels)
        given = params.get("_price_factor")
        factor = 1.0 if given is None else float(given)
        return points if factor == 1.0 else math.ceil(points * factor - 1e-9)

    def fill_graph(self, params: dict[str, Any]) -> dict[str, Any]:
        graph = copy.deepcopy(self.graph)
        for name, spec in self.inputs.items():
            if spec.node is None or spec.field is None or name not in params:
                continue
            if spec.type == "image":
                continue  # engines upload images and fill these fields themselves
            value = params[name]
            if spec.factor is not None:
                value = value * spec.factor
            graph[spec.node]["inputs"][spec.field] = value
        return graph

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "inputs": {
                n: {k: v for k, v in vars(i).items() if k not in _PRIVATE and v is not None}
                for n, i in self.inputs.items()
            },
            "cost": vars(self.cost),
        }


class ToolRegistry:
    def __init__(self, tools: dict[str, Tool]) -> None:
        self._tools = tools

    @classmethod
    def load(cls, dirs: list[Path], default_cost: CostFormula) -> ToolRegistry:
        tools: dict[str, Tool] = {}
        for folder in dirs:
            if not folder.is_dir():
                raise InvalidInput(f"tools folder {folder} does not exist")
            for path in sorted(folder.glob("*.json")):
                tool = parse_tool(path.read_text(encoding="utf-8"), default_cost, str(path))
                tools[tool.name] = tool  # later folders override built-ins
        return cls(tools)

    def get(self, name: str) -> Tool:
        tool = self._tools.get(name)
        if tool is None:
            raise NotFound(f"unknown tool {name!r}; available: {', '.join(sorted(self._tools))}")
        return tool

    def all(self) -> list[Tool]:
        return sorted(self._tools.values(), key=lambda t: (t.category, t.name))

    def set_default(self, input_name: str, value: Any) -> None:
        """Change the default of an input in every tool that has it (from settings)."""
        for tool in self._tools.values():
            spec = tool.inputs.get(input_name)
            if spec is not None:
                tool.inputs[input_name] = dataclasses.replace(spec, default=value)

    def by_category(self, category: str) -> list[Tool]:
        return [t for t in self.all() if t.category == category]


def parse_tool(text: str, default_cost: CostFormula, source: str = "upload") -> Tool:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a tool file is a JSON object")
    for key in ("name", "category", "graph"):
        if key not in data:
            raise InvalidInput(f"{source}: missing {key!r}")
    category = data["category"]
    if category not in CATEGORIES:
        raise InvalidInput(f"{source}: unknown category {category!r}")
    graph = data["graph"]
    if not isinstance(graph, dict) or not all(
        isinstance(n, dict) and "class_type" in n for n in graph.values()
    ):
        raise InvalidInput(f"{source}: graph must be ComfyUI API format (nodes with class_type)")
    raw_inputs = data.get("inputs")
    if raw_inputs is not None and not (
        isinstance(raw_inputs, dict) and all(isinstance(v, dict) for v in raw_inputs.values())
    ):
        raise InvalidInput(f"{source}: 'inputs' must map each input name to an object")
    if not isinstance(data.get("cost", {}), dict):
        raise InvalidInput(f"{source}: 'cost' must be an object")
    inputs = _explicit_inputs(raw_inputs, graph, source) if raw_inputs else _discover(graph)
    cost_data = {**vars(default_cost), **data.get("cost", {})}
    scale_pixels = bool(cost_data.pop("scale_pixels", False))
    try:
        cost = CostFormula(**cost_data)
    except TypeError as exc:
        raise InvalidInput(f"{source}: bad cost: {exc}") from None
    return Tool(
        name=str(data["name"]), category=category, description=data.get("description", ""),
        graph=graph, inputs=inputs, cost=cost, scale_pixels=scale_pixels, source=source,
        meta=data.get("meta", {}),
        version=hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
    )


def _explicit_inputs(
    raw: dict[str, Any], graph: dict[str, Any], source: str
) -> dict[str, ToolInput]:
    inputs: dict[str, ToolInput] = {}
    for name, spec in raw.items():
        given = spec.get("type", "str")
        kind = type_name(given) if isinstance(given, str) else None
        if kind is None:
            raise InvalidInput(
                f"{source}: input {name!r} has unknown type {given!r}; types: "
                f"{', '.join(sorted(TYPES))} (or ComfyUI's STRING, INT, FLOAT, BOOLEAN, or "
                "JSON Schema's string, integer, number, boolean)")
        node = spec.get("node")
        if node is not None and str(node) not in graph:
            raise InvalidInput(f"{source}: input {name!r} refers to missing node {node!r}")
        choices = spec.get("choices")
        inputs[name] = ToolInput(
            name=name, type=kind, default=spec.get("default"), min=spec.get("min"),
            max=spec.get("max"), choices=tuple(choices) if choices else None,
            max_length=spec.get("max_length"), required=bool(spec.get("required", False)),
            node=str(node) if node is not None else None, field=spec.get("field"),
            description=spec.get("description", ""), factor=spec.get("factor"),
        )
    return inputs


def type_name(given: str) -> str | None:
    """Our name for an input type (``INT``, ``integer`` → ``int``); None: unknown."""
    kind = given.strip().lower()
    kind = TYPE_ALIASES.get(kind, kind)
    return kind if kind in TYPES else None


def _discover(graph: dict[str, Any]) -> dict[str, ToolInput]:
    inputs: dict[str, ToolInput] = {}
    for node_id, node in graph.items():
        title = str(node.get("_meta", {}).get("title", ""))
        label = title if title.startswith("input_") else str(node_id)
        if not label.startswith("input_"):
            continue
        name = label.removeprefix("input_")
        kind = _DEPLOY_TYPES.get(node["class_type"], "str")
        default = node.get("inputs", {}).get("default_value")
        inputs[name] = ToolInput(
            name=name, type=kind, default=default, node=str(node_id), field="default_value",
            max_length=2000 if kind == "str" else None,
            min=-1 if name == "seed" else None, max=SEED_MAX if name == "seed" else None,
        )
    return inputs


def _fmt(value: float | None) -> str:
    if value is None:
        return "∞"
    return str(int(value)) if float(value).is_integer() else str(value)


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"
