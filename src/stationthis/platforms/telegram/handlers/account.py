"""/start, /help, /balance, /history, /status, /cancel and /link."""

from __future__ import annotations

from telegram import Update

from ....core.errors import InvalidInput, StationError
from ....workflows.make_image import Request
from ...chat import cancelled_text
from .. import render
from .common import Ctx, answer, group_of, guarded, in_group, station, user_of
from .generate import rest_of


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
    try:
        tool = await app.make_image.default_tool(user, group)
        typical = await app.make_image.quote(user, Request(tool, {"prompt": "a typical image"}),
                                             group=group)
    except StationError:
        typical = None
    text = render.balance_text(view, typical)
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
    app = station(context).app
    user = await user_of(update, context)
    arg = rest_of(update.effective_message).lower()
    active = await app.status.active(user)
    if not active:
        await answer(update, "Nothing to cancel.")
        return
    if arg == "all" or (not arg and len(active) == 1):
        done = await app.status.cancel_all(user)
    elif arg.isdigit() and 1 <= int(arg) <= len(active):
        done = [await app.status.cancel(user, active[int(arg) - 1].job_id)]
    else:
        raise InvalidInput(f"Which one? /cancel 1…{len(active)} or /cancel all (see /status).")
    await answer(update, cancelled_text(len(done), sum(d.released for d in done),
                                        sum(1 for d in done if not d.done)))


@guarded
async def link(update: Update, context: Ctx) -> None:
    app = station(context).app
    if in_group(update):
        raise InvalidInput("Use /link in a private chat with me: link codes are personal.")
    user = await user_of(update, context)
    code = rest_of(update.effective_message).strip()
    if code:
        merged = await app.account.link(user, code)
        names = ", ".join(str(i) for i in await app.account.identities(merged))
        await answer(update, f"Linked. This account is now also: {names}")
        return
    fresh = await app.account.link_code(user)
    await answer(update, f"Your link code: {fresh}\nEnter it on the other platform within 15 "
                 "minutes (e.g. /link CODE in Discord or on the web) to join the accounts.")
