"""/settings: one's own defaults; /server: this server's defaults for its members and who
pays — changed only by members with Manage Server (the permissions Discord sends with each
interaction). An embed with preset buttons, a select for the default tool and a modal for
any other value."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.chat import account as chat_account
from stationthis.platforms.discord import render
from stationthis.platforms.discord.handlers.common import Interaction

NOT_MANAGER = "Only members with the Manage Server permission can change the server's settings."
IN_SERVER = "Server settings are changed in the server."


async def show(ix: Interaction) -> None:
    await ix.reply(await _own(ix, await ix.user()))


async def server(ix: Interaction) -> None:
    group = await ix.group()
    if group is None:
        raise InvalidInput(IN_SERVER)
    await ix.reply(await _server(ix, group, ix.can_manage_guild))


async def pressed(ix: Interaction, scope: str, parts: list[str], values: list[str]) -> None:
    """A settings button or the tool select (``values``); the settings message is edited."""
    key = parts[0] if parts else ""
    value = values[0] if values else (parts[1] if len(parts) > 1 else "")
    await change(ix, scope, key, value)


async def modal_submitted(ix: Interaction, scope: str) -> None:
    values = ix.modal_values()
    key, value = values.get("key", "").strip(), values.get("value", "").strip()
    if not key:
        raise InvalidInput("Name the setting to change (e.g. cfg).")
    await change(ix, scope, key, value)


async def change(ix: Interaction, scope: str, key: str, value: str) -> None:
    app = ix.app
    user = await ix.user()
    if scope == "g":
        group = await ix.group()
        if group is None:
            raise InvalidInput(IN_SERVER)
        if not ix.can_manage_guild:
            raise Forbidden(NOT_MANAGER)
        await chat_account.change(app, user, group, key, "" if key == "reset" else value)
        await ix.reply(await _server(ix, group, True))
        return
    await chat_account.change(app, user, None, key, "" if key == "reset" else value)
    await ix.reply(await _own(ix, user))


async def _own(ix: Interaction, user: Account) -> dict[str, Any]:
    app = ix.app
    view = await app.user_settings.show(user)
    embed = render.settings_embed(view, "⚙️ Your settings")
    return render.message(embeds=[embed],
                          components=render.settings_components("s", _tools(ix), view.tool))


async def _server(ix: Interaction, group: Account, manager: bool) -> dict[str, Any]:
    app = ix.app
    view = await app.user_settings.show_group(group)
    pool = await app.groups.view(group)
    embed = render.settings_embed(view, "👥 This server's defaults", pool)
    if not manager:
        return render.message("Members with Manage Server can change these.", embeds=[embed],
                              components=[])
    return render.message(embeds=[embed], components=render.settings_components(
        "g", _tools(ix), view.tool, payer=True))


def _tools(ix: Interaction) -> list[str]:
    return [t.name for t in ix.app.tools.by_category("txt2img")][:25]
