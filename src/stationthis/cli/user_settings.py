"""``stationthis settings …``: per-user settings and group defaults for generation. The user is
-u/--user (default: local); the older form, the user as the first argument (``settings set
USER KEY VALUE``), still works."""

from __future__ import annotations

from typing import Annotated

import typer

from stationthis.cli.common import (
    Command,
    OlderArg,
    UserGiven,
    older_form,
    resolve_group,
    resolve_user,
    run,
)
from stationthis.workflows.app import App
from stationthis.workflows.limits import fmt
from stationthis.workflows.settings import SettingsView

settings_cli = typer.Typer(
    help="Per-user settings and group defaults for generation.", no_args_is_help=True
)
GroupArg = Annotated[str, typer.Argument(help="a group: PLATFORM:ID (e.g. telegram:-1001234)")]


def _echo_settings(title: str, view: SettingsView) -> None:
    typer.echo(f"{title}: {view.tier} tier · default tool {view.tool} · "
               f"at most {view.max_pixels} pixels per image")
    for item in view.items.values():
        value = "random" if item.key == "seed" and item.value == -1 else item.value
        shown = "—" if value in (None, "") else str(value)
        if item.choices is not None:
            allowed = "one of " + ", ".join(item.choices)
        elif item.low is not None or item.high is not None:
            low = "" if item.low is None else fmt(item.low)
            allowed = f"{low}–{fmt(item.high)}" + (f" ({item.tier} tier)" if item.tier else "")
        else:
            allowed = ""
        typer.echo(f"  {item.key:<11} {shown[:40]:<40} {item.source:<8} {allowed}".rstrip())


@settings_cli.command("show", cls=Command)
def settings_show(
    older: OlderArg = None,
    user: UserGiven = None,
    group: Annotated[str | None, typer.Option(help="as in this group: PLATFORM:ID")] = None,
) -> None:
    """A user's settings: each value, where it comes from, and the allowed range.

    Older form: stationthis settings show USER."""
    user, _ = older_form("settings show USER", user, [], older, required=0)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        chat = await resolve_group(app, group) if group else None
        title = f"{user} in {group}" if group else user
        _echo_settings(title, await app.user_settings.show(account, chat))

    run(body)


@settings_cli.command("set", cls=Command)
def settings_set(
    key: Annotated[str, typer.Argument(help="size, width, height, steps, cfg, strength, seed, "
                                            "batch, negative, checkpoint or tool")],
    value: Annotated[str, typer.Argument(help="e.g. 30, 1024x768, random")],
    older: OlderArg = None,
    user: UserGiven = None,
) -> None:
    """Set one of a user's settings (checked against the tool and the user's tier).

    Older form: stationthis settings set USER KEY VALUE."""
    user, (key, value) = older_form("settings set USER KEY VALUE", user, [key, value], older,
                                    required=2)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        _echo_settings(user, await app.user_settings.set(account, key, value))

    run(body)


@settings_cli.command("reset", cls=Command)
def settings_reset(
    key: Annotated[str | None, typer.Argument(help="one setting (default: all)")] = None,
    older: OlderArg = None,
    user: UserGiven = None,
) -> None:
    """Forget one of a user's settings, or all of them.

    Older form: stationthis settings reset USER [KEY] (so without -u, one argument is the
    user)."""
    user, (one,) = older_form("settings reset USER [KEY]", user, [key], older, required=0)
    key = one or None

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        _echo_settings(user, await app.user_settings.reset(account, key))

    run(body)


@settings_cli.command("group-set")
def settings_group_set(
    group: GroupArg,
    key: Annotated[str, typer.Argument(help="a setting, as for `settings set`")],
    value: str,
) -> None:
    """Set a default for the members of a group (their own settings still come first)."""

    async def body(app: App) -> None:
        chat = await resolve_group(app, group)
        _echo_settings(group, await app.user_settings.set_group(None, chat, key, value))

    run(body)


@settings_cli.command("group-reset")
def settings_group_reset(
    group: GroupArg,
    key: Annotated[str | None, typer.Argument(help="one setting (default: all)")] = None,
) -> None:
    """Forget one of a group's defaults, or all of them."""

    async def body(app: App) -> None:
        chat = await resolve_group(app, group)
        _echo_settings(group, await app.user_settings.reset_group(None, chat, key))

    run(body)
