"""/styles and /style: saved styles (``--style NAME`` in a prompt), worded by the shared
chat kernel (platforms/chat/styles.py). In a group, only its admins (asked from Telegram)
change the group's styles: ``/style group NAME = …``. /wildcards and /wildcard do the same
for wildcard lists (``__colours__`` in a prompt): ``/wildcard colours = red | teal:3``,
``/wildcard colours =`` removes it, ``/wildcard group …`` the group's."""

from __future__ import annotations

from telegram import Update

from stationthis.platforms.chat import styles as chat_styles
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    answer,
    group_of,
    guarded,
    is_admin,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of
from stationthis.platforms.telegram.render import WORDS


@guarded
async def styles(update: Update, context: Ctx) -> None:
    app = station(context).app
    user, group = await user_of(update, context), await group_of(update, context)
    await answer(update, await chat_styles.list_styles(app, user, group, WORDS))


@guarded
async def style(update: Update, context: Ctx) -> None:
    app = station(context).app
    text = rest_of(update.effective_message)
    user, group = await user_of(update, context), await group_of(update, context)
    wants_group = text.split(maxsplit=1)[:1] in (["group"], ["Group"])
    admin = group is not None and wants_group and await is_admin(update, context)
    await answer(update, await chat_styles.style_command(app, user, group, text, WORDS,
                                                        admin=admin))


@guarded
async def wildcards(update: Update, context: Ctx) -> None:
    app = station(context).app
    user, group = await user_of(update, context), await group_of(update, context)
    await answer(update, await chat_styles.list_wildcards(app, user, group, WORDS))


@guarded
async def wildcard(update: Update, context: Ctx) -> None:
    app = station(context).app
    text = rest_of(update.effective_message)
    user, group = await user_of(update, context), await group_of(update, context)
    wants_group = (text.split(maxsplit=1) or [""])[0].lower() in chat_styles.GROUP_WORDS
    admin = group is not None and wants_group and await is_admin(update, context)
    await answer(update, await chat_styles.wildcard_command(app, user, group, text, WORDS,
                                                           admin=admin))
