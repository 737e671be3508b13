"""/cook: set a collection's cook configuration, see it with its price, start with a confirm
button, follow "n/total" in one status message (edited by the notifier as pieces finish),
pause/resume/cancel with buttons, and review the pieces (keep, reject, regenerate)."""

from __future__ import annotations

from typing import Any

from telegram import Update

from stationthis.core.collections import Collection
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.users import Account
from stationthis.platforms.chat import cook as kitchen
from stationthis.platforms.telegram import cook_notify
from stationthis.platforms.telegram import render_collections as rc
from stationthis.platforms.telegram.handlers.collections import find, owner_only, send_thumbs
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    answer,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of

SUBCOMMANDS = ("set", "start", "pause", "resume", "cancel", "review", "status")
REVIEW = {"qk": "keep", "qj": "reject", "qr": "regenerate"}


def parse_config(text: str) -> dict[str, Any]:
    """``SUPPLY | MASTER PROMPT | TYPE: trait, trait*2 | …`` or a JSON object."""
    return kitchen.parse_config(text, rc.COOK_USAGE)


@guarded
async def cook(update: Update, context: Ctx) -> None:
    app = station(context).app
    user = await user_of(update, context)
    words = rest_of(update.effective_message).split()
    if not words:
        await answer(update, "/cook NAME shows a collection's cook configuration, its price and "
                     "its run.\n" + rc.COOK_USAGE)
        return
    tail = _tail(words)
    names, rest = words[:len(words) - tail], words[len(words) - tail:]
    c, left = await find(app, user, names)
    if left:
        raise InvalidInput(rc.COOK_USAGE)
    sub = rest[0].lower() if rest else ""
    if sub == "set":
        owner_only(c)
        raw = rest_of(update.effective_message).split(None, len(names) + 1)
        config = parse_config(raw[-1] if len(raw) == len(names) + 2 else "")
        await app.cook.configure(user, c.id, config)
        await overview(update, context, user, c, fresh=True)
    elif sub in ("", "status"):
        await overview(update, context, user, c)
    elif sub == "start":
        await overview(update, context, user, c, fresh=True)
    elif sub in kitchen.CONTROLS:
        status = await kitchen.control(app, user, c, sub)
        await answer(update, rc.cook_status_text(c.name, status),
                     reply_markup=rc.cook_controls(c.id, status.state))
    elif sub == "review":
        await review(update, context, user, c, 1)
    else:
        await answer(update, rc.COOK_USAGE)


def _tail(words: list[str]) -> int:
    """How many words, from the first subcommand word on, follow the collection's name."""
    for index, word in enumerate(words):
        if index and word.lower() in SUBCOMMANDS:
            return len(words) - index
    return 0


async def overview(update: Update, context: Ctx, user: Account, c: Collection,
                   fresh: bool = False) -> None:
    """The run's status and controls if there is one; else the configuration and the price
    with a start button (or how to set it up)."""
    app = station(context).app
    c = await app.collections.view(user, c.id)  # as it is now (its configuration may be new)
    if not fresh:
        status = await kitchen.current(app, user, c)
        if status is not None:
            await answer(update, rc.cook_status_text(c.name, status),
                         reply_markup=rc.cook_controls(c.id, status.state))
            return
    if not c.cook:
        await answer(update, f"{c.name} has no cook configuration yet.\n" + rc.COOK_USAGE)
        return
    config = await app.cook.config(user, c.id)
    plans = await app.cook.preview(user, c.id, 3)
    quote = await app.cook.quote(user, c.id) if c.access == "owner" else None
    await answer(update, rc.cook_text(c, config, plans, quote),
                 reply_markup=rc.cook_start_keyboard(c) if quote is not None else None)


async def review(update: Update, context: Ctx, user: Account, c: Collection,
                 page: int) -> None:
    """One page of pieces: their thumbnails as an album, then a list with buttons."""
    app = station(context).app
    pieces = await app.cook.pieces(user, c.id, page=page, per_page=rc.PAGE + 1)
    more, pieces = len(pieces) > rc.PAGE, pieces[:rc.PAGE]
    chat = update.effective_chat
    assert chat is not None
    thumbs = [await app.media.thumbnail(await app.media.get(p.media_id))
              for p in pieces if p.state == "done" and p.media_id]
    await send_thumbs(context, chat.id, thumbs)
    keyboard = rc.review_keyboard(c.id, pieces, page, more) if c.access == "owner" else None
    await answer(update, rc.review_text(c.name, pieces, page), reply_markup=keyboard)


async def pressed(update: Update, context: Ctx, action: str, parts: list[str]) -> None:
    app = station(context).app
    user = await user_of(update, context)
    query = update.callback_query
    assert query is not None
    if not parts:
        raise NotFound("no collection")
    c = await app.collections.view(user, parts[0])
    number = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None
    if action == "qs":
        await overview(update, context, user, c)
    elif action == "qg":
        owner_only(c)
        await query.edit_message_reply_markup(None)  # one press, one run
        await _start(update, context, user, c)
    elif action in ("qp", "qu", "qc"):
        what = {"qp": "pause", "qu": "resume", "qc": "cancel"}[action]
        status = await kitchen.control(app, user, c, what)
        text, markup = rc.cook_status_text(c.name, status), rc.cook_controls(c.id, status.state)
        notifier, message = station(context).notifier, query.message
        if notifier is not None and message is not None:
            await cook_notify.show(notifier, message.chat.id, message.message_id, text, markup,
                                   c.id)
        else:
            await query.edit_message_text(text, reply_markup=markup)
    elif action == "qv" and number is not None:
        await review(update, context, user, c, number)
    elif action in REVIEW and number is not None:
        if action == "qr":
            _cooking_again(context, c)
        said = await kitchen.review_step(TelegramTurn(update, context), app, c, REVIEW[action],
                                         number)
        if said is not None:
            await answer(update, said)
    else:
        raise NotFound("unknown button")


async def _start(update: Update, context: Ctx, user: Account, c: Collection) -> None:
    """A status message first; the run carries its address, so the notifier edits it with
    "n/total" as pieces finish (after a restart too)."""
    turn = TelegramTurn(update, context)
    _cooking_again(context, c)
    status = await kitchen.start(turn, station(context).app, c)
    if status is None or not status.recognised:
        return  # refused (said), or a new run: the notifier edits the message from now on
    # a run of this configuration already existed (and keeps its own status message)
    note = rc.cook_status_text(c.name, status)
    if status.state == "finished":
        note += "\n" + kitchen.FINISHED_ALREADY
    await turn.edit_status(note, rc.cook_controls(c.id, status.state))


def _cooking_again(context: Ctx, c: Collection) -> None:
    """The run goes on: its status message shows progress again."""
    notifier = station(context).notifier
    if notifier is not None:
        notifier.cooked.pop(c.id, None)
