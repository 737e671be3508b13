"""``stationthis styles …`` and ``stationthis wildcards …``: saved styles (``--style NAME``
in a prompt) and wildcard lists (``__NAME__`` in a prompt) of a user, or of a group with
``--group PLATFORM:ID`` (the command line is the operator: no admin check)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stationthis.cli.common import UserOpt, assignments, resolve_group, resolve_user, run
from stationthis.core.styles import Style
from stationthis.core.users import Account
from stationthis.workflows.app import App
from stationthis.workflows.styles import Styles

styles_cli = typer.Typer(help="Saved styles: --style NAME in a prompt.", no_args_is_help=True)
wildcards_cli = typer.Typer(help="Wildcard lists: __NAME__ in a prompt draws one item.",
                            no_args_is_help=True)
GroupOpt = Annotated[str | None, typer.Option(
    "--group", help="a group's instead of a user's: PLATFORM:ID (e.g. telegram:-1001234)")]
NameArg = Annotated[str, typer.Argument(help="its name: letters, digits, - or _")]


async def _owner(app: App, user: str, group: str | None) -> tuple[Styles, Account]:
    assert app.styles is not None
    owner = await resolve_group(app, group) if group else await resolve_user(app, user)
    return app.styles, owner


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _echo_style(style: Style) -> None:
    typer.echo(f"{style.name}: {style.template}")
    if style.negative:
        typer.echo(f"  negative: {style.negative}")
    for key, value in style.defaults.items():
        typer.echo(f"  {key} = {value}")


@styles_cli.command("add")
def styles_add(
    name: NameArg,
    template: Annotated[str, typer.Argument(help="the prompt with {prompt} where yours goes "
                                                 "(without it: a prefix)")],
    negative: Annotated[str | None, typer.Option(help="added to the negative prompt")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--set", help="a default input: NAME=VALUE (steps=30, cfg=6, ar=16:9)")] = None,
    user: UserOpt = "local", group: GroupOpt = None,
) -> None:
    """Save a style (replacing the one of that name)."""
    defaults = {k: _value(v) for k, v in assignments(option or [], "--set").items()}

    async def body(app: App) -> None:
        flow, owner = await _owner(app, user, group)
        _echo_style(await flow.save_style(owner, name, template, negative, defaults))

    run(body)


@styles_cli.command("list")
def styles_list(user: UserOpt = "local", group: GroupOpt = None) -> None:
    """The saved styles."""

    async def body(app: App) -> None:
        flow, owner = await _owner(app, user, group)
        found = await flow.book.styles(owner.id)
        if not found:
            typer.echo("no styles yet: stationthis styles add noir \"film noir, {prompt}\"")
        for style in found:
            typer.echo(f"{style.name:<20} {style.template[:70]}")

    run(body)


@styles_cli.command("show")
def styles_show(name: NameArg, user: UserOpt = "local", group: GroupOpt = None) -> None:
    """One style in full."""

    async def body(app: App) -> None:
        flow, owner = await _owner(app, user, group)
        _echo_style(await flow.own_style(owner, name))

    run(body)


@styles_cli.command("rm")
def styles_rm(name: NameArg, user: UserOpt = "local", group: GroupOpt = None) -> None:
    """Remove a style."""

    async def body(app: App) -> None:
        flow, owner = await _owner(app, user, group)
        await flow.delete_style(owner, name)
        typer.echo(f"removed the style {name}")

    run(body)


@wildcards_cli.command("add")
def wildcards_add(
    name: NameArg,
    items: Annotated[list[str], typer.Argument(help="the items, optionally weighted: "
                                                    "red teal:3 \"sea green\"")],
    user: UserOpt = "local", group: GroupOpt = None,
) -> None:
    """Save a wildcard list (replacing the one of that name)."""

    async def body(app: App) -> None:
        flow, owner = await _owner(app, user, group)
        saved = await flow.save_list(owner, name, list(items))
        typer.echo(f"__{saved.name}__: " + ", ".join(_item(i.value, i.weight)
                                                      for i in saved.items))

    run(body)


@wildcards_cli.command("list")
def wildcards_list(user: UserOpt = "local", group: GroupOpt = None) -> None:
    """The saved wildcard lists."""

    async def body(app: App) -> None:
        flow, owner = await _owner(app, user, group)
        found = await flow.book.lists(owner.id)
        if not found:
            typer.echo("no wildcard lists yet: stationthis wildcards add colours red teal:2")
        for wl in found:
            shown = ", ".join(_item(i.value, i.weight) for i in wl.items)
            typer.echo(f"__{wl.name}__: {shown[:100]}")

    run(body)


@wildcards_cli.command("rm")
def wildcards_rm(name: NameArg, user: UserOpt = "local", group: GroupOpt = None) -> None:
    """Remove a wildcard list."""

    async def body(app: App) -> None:
        flow, owner = await _owner(app, user, group)
        await flow.delete_list(owner, name)
        typer.echo(f"removed the wildcard list {name}")

    run(body)


def _item(value: str, weight: float) -> str:
    return value if weight == 1 else f"{value}:{weight:g}"
