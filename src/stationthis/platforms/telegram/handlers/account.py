"""/start, /help, /balance, /history, /status, /cancel and /link."""

from __future__ import annotations

from telegram import Update

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat import account as chat_account
from stationthis.platforms.telegram import render
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    answer,
    group_of,
    guarded,
    in_group,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of


@guarded
async def start(update: Update, context: Ctx) -> None:
    await user_of(update, context)  # the account exists from the first message
    bot = station(context)
    await answer(update, "Welcome to StationThis!\n\n" + render.help_text(bot.username,
                                                                            bot.trigger))


@guarded
async def help_(update: Update, context: Ctx) -> None:
    bot = station(context)
    await answer(update, render.help_text(bot.username, bot.trigger))


@guarded
async def balance(update: Update, context: Ctx) -> None:
    app = station(context).app
    user, group = await user_of(update, context), await group_of(update, context)
    view = await app.account.balance(user)
    text = render.balance_text(view, await chat_account.typical(app, user, group))
    if group is not None:
        pool = await app.groups.view(group)
        text += f"\nThis group: {render.PAYER_NAMES[pool.payer]}, pool {pool.pool} points."
    await answer(update, text)


@guarded
async def history(update: Update, context: Ctx) -> None:
    app = station(context).app
    await answer(update, render.history_text(
        await app.history.recent(await user_of(update, context), 10)))


@guarded
async def status(update: Update, context: Ctx) -> None:
    app = station(context).app
    active = await app.status.active(await user_of(update, context))
    await answer(update, render.status_text(active), reply_markup=render.status_keyboard(active))


@guarded
async def cancel(update: Update, context: Ctx) -> None:
    user = await user_of(update, context)
    await answer(update, await chat_account.cancel(
        station(context).app, user, rest_of(update.effective_message),
        "Which one? /cancel 1…{n} or /cancel all (see /status)."))


@guarded
async def link(update: Update, context: Ctx) -> None:
    app = station(context).app
    if in_group(update):
        raise InvalidInput("Use /link in a private chat with me: link codes are personal.")
    user = await user_of(update, context)
    await answer(update, await chat_account.link(app, user, rest_of(update.effective_message),
                                                 "{}", "/link CODE in Discord or on the web"))
