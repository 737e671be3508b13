"""/styles and /style: saved styles (``--style NAME`` in a prompt), worded by the shared chat
kernel (platforms/chat/styles.py). ``/style`` takes options — the name, the template
(``{prompt}`` where the prompt goes), a negative, steps, cfg, an aspect ratio — and
``server: true`` for the server's styles, which only members with Manage Server change;
``remove: true`` removes one, and the name alone shows it. /wildcards and /wildcard (name,
values ``red | teal:3 | gold``, server, remove) do the same for wildcard lists."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.platforms.chat import styles as chat_styles
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.render import WORDS

NOT_MANAGER = "Only members with the Manage Server permission can change the server's styles."
NOT_MANAGER_LISTS = ("Only members with the Manage Server permission can change the server's "
                     "wildcard lists.")


async def list_(ix: Interaction) -> None:
    await ix.say(await chat_styles.list_styles(ix.app, await ix.user(), await ix.group(),
                                               WORDS))


async def style(ix: Interaction) -> None:
    options = ix.options()
    flow = chat_styles.flow_of(ix.app)
    user, group = await ix.user(), await ix.group()
    name = str(options.get("name") or "").strip()
    owner = user
    if options.get("server"):
        if group is None:
            raise InvalidInput("The server's styles are changed in the server.")
        if not ix.can_manage_guild:
            raise Forbidden(NOT_MANAGER)
        owner = group
    whose = " (server)" if owner is group else ""
    if options.get("remove"):
        await flow.delete_style(owner, name, by=user)
        await ix.say(f"Removed the style {name}{whose}.")
        return
    template = options.get("template")
    if not template:
        await ix.say(chat_styles.style_text(await flow.find(user, group, name), WORDS))
        return
    defaults: dict[str, Any] = {k: options[k] for k in ("steps", "cfg", "ar")
                                if options.get(k) is not None}
    saved = await flow.save_style(owner, name, template, options.get("negative"), defaults,
                                  by=user)
    await ix.say("Saved. " + chat_styles.style_text(saved, WORDS, whose))


async def list_wildcards(ix: Interaction) -> None:
    await ix.say(await chat_styles.list_wildcards(ix.app, await ix.user(), await ix.group(),
                                                  WORDS))


async def wildcard(ix: Interaction) -> None:
    options = ix.options()
    user, group = await ix.user(), await ix.group()
    name = str(options.get("name") or "").strip()
    owner = user
    if options.get("server"):
        if group is None:
            raise InvalidInput("The server's wildcard lists are changed in the server.")
        if not ix.can_manage_guild:
            raise Forbidden(NOT_MANAGER_LISTS)
        owner = group
    whose = " (server)" if owner is group else ""
    values = str(options.get("values") or "")
    if not options.get("remove") and not values.strip():
        await ix.say(await chat_styles.show_list(ix.app, user, group, name, WORDS))
        return
    if options.get("remove"):
        values = ""
    await ix.say(await chat_styles.save_or_remove(ix.app, owner, name, values, by=user,
                                                  whose=whose, words=WORDS))
