"""``stationthis tools list``: the tools this instance offers."""

from __future__ import annotations

import typer

from stationthis.cli.common import fail, get_settings
from stationthis.core.errors import StationError

tools_cli = typer.Typer(help="Generation tools (ComfyUI workflow templates).", no_args_is_help=True)


@tools_cli.command("list")
def tools_list() -> None:
    """The tools this instance offers, their inputs and their prices."""
    settings = get_settings()
    from stationthis.bootstrap import _tools

    try:
        registry = _tools(settings)
    except StationError as exc:
        fail(exc.message, 1)
    for tool in registry.all():
        if tool.category == "train":
            price_text = "priced per dataset (`stationthis train quote`)"
        else:
            price = tool.price({i.name: i.default for i in tool.inputs.values()})
            price_text = f"from {price} points"
        typer.echo(f"{tool.name:<12} {tool.category:<8} {price_text}  {tool.description}")
        for spec in tool.inputs.values():
            bounds = f" [{spec.min}..{spec.max}]" if spec.min is not None else ""
            choices = f" one of {list(spec.choices)}" if spec.choices else ""
            default = f" = {spec.default!r}" if spec.default not in (None, "", []) else ""
            typer.echo(f"    {spec.name}: {spec.type}{bounds}{choices}{default}")
