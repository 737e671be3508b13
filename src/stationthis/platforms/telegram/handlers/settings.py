"""/settings: a user's defaults in a private chat; in a group, the group's defaults and who
pays, which only the group's admins (asked from Telegram each time) can change."""

from __future__ import annotations

from telegram import Message, Update
from telegram.error import BadRequest

from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.chat import account as chat_account
from stationthis.platforms.telegram import render
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    answer,
    group_of,
    guarded,
    in_group,
    is_admin,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of

NOT_ADMIN = "Only the group's admins can change its settings."


@guarded
async def settings(update: Update, context: Ctx) -> None:
    words = rest_of(update.effective_message).split(maxsplit=1)
    user, group = await user_of(update, context), await group_of(update, context)
    if group is not None:
        await _group_command(update, context, user, group, words)
        return
    flow = station(context).app.user_settings
    if not words:
        view = await flow.show(user)
    elif words[0].lower() == "reset":
        view = await flow.reset(user, words[1] if len(words) > 1 else None)
    elif len(words) < 2:
        raise InvalidInput(f"Give a value: /settings {words[0]} VALUE")
    else:
        view = await flow.set(user, words[0], words[1])
    await answer(update, render.settings_text(view), reply_markup=render.settings_keyboard("s"))


async def _group_command(update: Update, context: Ctx, user: Account, group: Account,
                         words: list[str]) -> None:
    app = station(context).app
    if words:
        if not await is_admin(update, context):
            raise Forbidden(NOT_ADMIN)
        key = words[0].lower()
        if key in ("pay", "payer", "pays"):
            if len(words) < 2:
                raise InvalidInput("Who pays? /settings pay user|group|user_first")
            key = "payer"
        elif key != "reset" and len(words) < 2:
            raise InvalidInput(f"Give a value: /settings {words[0]} VALUE")
        else:
            key = words[0] if key != "reset" else key
        await chat_account.change(app, user, group, key, words[1] if len(words) > 1 else "")
    await answer(update, await _group_text(context, group),
                 reply_markup=render.settings_keyboard("g", payer=True))


async def _group_text(context: Ctx, group: Account) -> str:
    app = station(context).app
    return render.group_text(await app.user_settings.show_group(group),
                             await app.groups.view(group))


async def pressed(update: Update, context: Ctx, action: str, parts: list[str]) -> None:
    """A settings button: ``s`` for the presser's own settings, ``g`` for the group's."""
    app = station(context).app
    user = await user_of(update, context)
    key, value = [*parts, ""][:2] if parts else ("", "")
    if action == "g":
        group = await group_of(update, context)
        if group is None or not in_group(update):
            raise InvalidInput("Group settings are changed in the group.")
        if not await is_admin(update, context):
            raise Forbidden(NOT_ADMIN)
        await chat_account.change(app, user, group, key, "" if key == "reset" else value)
        text, keyboard = await _group_text(context, group), render.settings_keyboard("g", True)
    else:
        await chat_account.change(app, user, None, key, "" if key == "reset" else value)
        view = await app.user_settings.show(user)
        text, keyboard = render.settings_text(view), render.settings_keyboard("s")
    query = update.callback_query
    assert query is not None
    if action == "s" and in_group(update):
        await answer(update, text)  # someone else's menu in a group: answer, don't edit it
        return
    shown = query.message
    if (isinstance(shown, Message) and shown.text == text
            and shown.reply_markup == keyboard):
        return  # the same value again: an edit Telegram would refuse as "not modified"
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
