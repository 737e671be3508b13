"""Inline buttons. Their data is an action and ids (``callbacks.py``); everything else is read
from the database, so a button works after a restart. Another user's object does not exist
for the presser: that, and a button whose object is gone, each get a short answer."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from ....core.errors import NotFound, StationError
from ...chat import object_exists
from ..callbacks import unpack
from . import generate, settings, train
from .common import Ctx, answer, error_text, group_of, station, user_of

log = logging.getLogger(__name__)
OBJECT_OF = {"r": "job", "c": "job", "u": "media", "v": "media", "d": "media", "da": "media"}
STALE = "This button is out of date."
NOT_YOURS = "These buttons belong to whoever made the image — make your own with /make."


async def pressed(update: Update, context: Ctx) -> None:
    query = update.callback_query
    if query is None:
        return
    action, parts = unpack(query.data or "")
    try:
        await _act(update, context, action, parts)
    except NotFound:
        kind = OBJECT_OF.get(action, "")
        theirs = bool(parts) and await object_exists(station(context).app, kind, parts[0])
        await _answer(update, NOT_YOURS if theirs else STALE)
    except StationError as exc:
        await _answer(update, error_text(exc))
    except TelegramError:
        raise
    except Exception:
        log.exception("button %s failed", action)
        await _answer(update, "Something went wrong on our side; nothing was charged.")
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
    if action == "r" and len(parts) == 1:
        await generate.regenerate(update, context, parts[0])
    elif action in ("u", "v") and len(parts) == 1:
        user = await user_of(update, context)
        group = await group_of(update, context)
        what = "upscale" if action == "u" else "vary"
        await generate.run_on_media(update, context, what, parts[0], None, user, group)
    elif action == "d" and len(parts) == 1:
        await train.pick_dataset(update, context, parts[0])
    elif action == "da" and len(parts) == 2:
        await train.add_output(update, context, parts[0], parts[1])
    elif action == "c" and len(parts) == 1:
        user = await user_of(update, context)
        done = await station(context).app.status.cancel(user, parts[0])
        note = (f"Cancelled; {done.released} points released." if done.done
                else "Stopping it; the points come back when it has stopped.")
        await answer(update, note)
    elif action in ("s", "g"):
        await settings.pressed(update, context, action, parts)
    elif action in ("ts", "tc", "xd", "xc", "no"):
        await train.pressed(update, context, action, parts)
    else:
        raise NotFound("unknown button")
