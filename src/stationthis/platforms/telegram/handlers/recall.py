"""/regen, /seed and /card (``chat/recall.py``): the last image job, ``/seed 2`` for the one
before, or the result the command replies to (its buttons carry its ids)."""

from __future__ import annotations

from telegram import Message, Update

from stationthis.platforms.chat import recall
from stationthis.platforms.telegram.callbacks import unpack
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    answer,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of

MAKE = "/make a red fox"


def target_of(update: Update, context: Ctx, command: str) -> recall.Target:
    """The replied-to result (one image: its id; a batch: its job), else a number."""
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    if replied is not None:
        found = _result_ids(replied, context.bot.id)
        if found is not None:
            return found
    usage = (f"{command} alone is your last image job; {command} 2 the one before (see "
             f"/history); or reply with {command} to one of my results.")
    return recall.Target(number=recall.number_of(rest_of(message), usage))


def _result_ids(message: Message, bot_id: int) -> recall.Target | None:
    if message.from_user is None or message.from_user.id != bot_id or \
            message.reply_markup is None:
        return None
    return recall.target_of_buttons(unpack(str(key.callback_data or ""))
                                    for row in message.reply_markup.inline_keyboard
                                    for key in row)


@guarded
async def regen(update: Update, context: Ctx) -> None:
    await recall.regen(TelegramTurn(update, context), station(context).app,
                       target_of(update, context, "/regen"))


@guarded
async def seed(update: Update, context: Ctx) -> None:
    target = target_of(update, context, "/seed")
    await answer(update, await recall.seed(station(context).app, await user_of(update, context),
                                           target, "/seed", MAKE))


@guarded
async def card(update: Update, context: Ctx) -> None:
    target = target_of(update, context, "/card")
    await answer(update, await recall.card(station(context).app, await user_of(update, context),
                                           target, "/card", MAKE))
