"""Inline buttons. Their data is an action code and ids (``chat/codes.py``, the table in
``chat/actions.py``); everything else is read from the database, so a button works after a
restart. Another user's object does not exist for the presser: that, and a button whose
object is gone, each get a short answer."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from stationthis.core.errors import NotFound, StationError
from stationthis.platforms.chat import account as chat_account
from stationthis.platforms.chat.actions import code_of
from stationthis.platforms.chat.flows import SORRY, image_action, is_image_action, why_not
from stationthis.platforms.telegram.callbacks import unpack
from stationthis.platforms.telegram.handlers import describe, settings, train
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    answer,
    error_text,
    station,
    user_of,
)

log = logging.getLogger(__name__)


async def pressed(update: Update, context: Ctx) -> None:
    query = update.callback_query
    if query is None:
        return
    action, parts = unpack(query.data or "")
    action = code_of(action)
    try:
        await _act(update, context, action, parts)
    except NotFound:
        text = await why_not(station(context).app, action, parts[0]) if parts else None
        await _answer(update, text or "This button is out of date.")
    except StationError as exc:
        await _answer(update, error_text(exc))
    except TelegramError:
        raise
    except Exception:
        log.exception("button %s failed", action)
        await _answer(update, SORRY)
    else:
        await _answer(update, None)


async def _answer(update: Update, text: str | None) -> None:
    query = update.callback_query
    assert query is not None
    try:
        if text is None:
            await query.answer()
        else:
            await query.answer(text[:200], show_alert=True)
    except TelegramError as exc:  # already answered, or too old to answer
        log.debug("callback answer refused: %s", exc)


async def _act(update: Update, context: Ctx, action: str, parts: list[str]) -> None:
    if is_image_action(action) and len(parts) == 1:
        await image_action(TelegramTurn(update, context), station(context).app, action,
                           parts[0])
    elif action == describe.RUN and len(parts) == 2:
        await describe.run_prompt(update, context, parts[0], parts[1])
    elif action == "d" and len(parts) == 1:
        await train.pick_dataset(update, context, parts[0])
    elif action == "da" and len(parts) == 2:
        await train.add_output(update, context, parts[0], parts[1])
    elif action == "c" and len(parts) == 1:
        user = await user_of(update, context)
        await answer(update, await chat_account.cancel_one(station(context).app, user,
                                                           parts[0]))
    elif action in ("s", "g"):
        await settings.pressed(update, context, action, parts)
    elif action in ("ts", "tc", "xd", "xc", "no"):
        await train.pressed(update, context, action, parts)
    else:
        raise NotFound("unknown button")
