"""Tools: what can be run, with inputs, defaults, bounds and the price formula."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from stationthis.core.tools import Tool
from stationthis.platforms.web.auth import station
from stationthis.platforms.web.errors import documented

router = APIRouter(prefix="/api/v1/tools", tags=["tools"])


class ToolInputOut(BaseModel):
    name: str
    type: str = Field(description="str | int | float | bool | image | choice | list | json")
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None
    max_length: int | None = None
    required: bool = False
    description: str = ""


class PriceOut(BaseModel):
    base: int
    per_tile: int
    per_step: float
    free_steps: int
    scale_pixels: bool = Field(description="width and height are multiplied by scale first")
    formula: str


class ToolOut(BaseModel):
    name: str
    category: str
    description: str
    version: str
    inputs: list[ToolInputOut]
    price: PriceOut


FORMULA = ("(base + ⌈width·height / 512²⌉·per_tile + ⌈max(0, steps − free_steps)·per_step⌉)"
           " × batch")


def tool_out(tool: Tool) -> ToolOut:
    inputs = [
        ToolInputOut(
            name=spec.name, type=spec.type, default=spec.default, min=spec.min, max=spec.max,
            choices=list(spec.choices) if spec.choices else None, max_length=spec.max_length,
            required=spec.required, description=spec.description,
        )
        for spec in tool.inputs.values()
    ]
    cost = tool.cost
    price = PriceOut(base=cost.base, per_tile=cost.per_tile, per_step=cost.per_step,
                     free_steps=cost.free_steps, scale_pixels=tool.scale_pixels,
                     formula=FORMULA)
    return ToolOut(name=tool.name, category=tool.category, description=tool.description,
                   version=tool.version, inputs=inputs, price=price)


@router.get("", response_model=list[ToolOut])
async def list_tools(request: Request) -> list[ToolOut]:
    """Every tool this instance offers (training and captioning tools included)."""
    return [tool_out(t) for t in station(request).tools.all()]


@router.get("/{name}", response_model=ToolOut, responses=documented(404))
async def get_tool(name: str, request: Request) -> ToolOut:
    return tool_out(station(request).tools.get(name))
