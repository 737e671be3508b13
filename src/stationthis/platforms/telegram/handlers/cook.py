"""/cook: set a collection's cook configuration, see it with its price, start with a confirm
button, follow "n/total" in one status message (edited by the notifier as pieces finish),
pause/resume/cancel with buttons, and review the pieces (keep, reject, regenerate)."""

from __future__ import annotations

import json
from typing import Any

from telegram import InputMediaPhoto, Update

from stationthis.core.collections import Collection
from stationthis.core.errors import InvalidInput, NotFound, StationError
from stationthis.core.replies import TelegramReply
from stationthis.core.users import Account
from stationthis.platforms.chat.limits import START
from stationthis.platforms.telegram import cook_notify
from stationthis.platforms.telegram import render_collections as rc
from stationthis.platforms.telegram.handlers.collections import find, owner_only
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    answer,
    error_text,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of

SUBCOMMANDS = ("set", "start", "pause", "resume", "cancel", "review", "status")


def parse_config(text: str) -> dict[str, Any]:
    """``SUPPLY | MASTER PROMPT | TYPE: trait, trait*2 | …`` or a JSON object."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"That JSON does not parse: {exc}.") from None
        if not isinstance(data, dict):
            raise InvalidInput("A cook configuration is a JSON object.")
        return data
    parts = [p.strip() for p in text.split("|")]
    if len(parts) < 2 or not parts[0].isdigit():
        raise InvalidInput(rc.COOK_USAGE)
    types = []
    for part in parts[2:]:
        name, sep, traits = part.partition(":")
        if not sep or not name.strip():
            raise InvalidInput(f"{part!r} is not a trait type: write TYPE: trait, trait")
        entries: list[Any] = []
        for raw in (t.strip() for t in traits.split(",")):
            if not raw:
                continue
            trait, star, weight = raw.rpartition("*") if "*" in raw else (raw, "", "")
            try:
                entries.append({"name": trait.strip(), "weight": float(weight)} if star
                               else trait.strip())
            except ValueError:
                raise InvalidInput(f"the weight in {raw!r} is not a number") from None
        types.append({"name": name.strip(), "traits": entries})
    return {"supply": int(parts[0]), "master_prompt": parts[1], "trait_types": types}


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
    elif sub in ("pause", "resume", "cancel"):
        status = await getattr(app.cook, sub)(user, c.id)
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
        try:
            status = await app.cook.status(user, c.id)
        except NotFound:
            status = None
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
    if len(thumbs) == 1:
        await context.bot.send_photo(chat.id, thumbs[0])
    elif thumbs:
        await context.bot.send_media_group(chat.id, [InputMediaPhoto(t) for t in thumbs])
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
        status = await getattr(app.cook, what)(user, c.id)
        text, markup = rc.cook_status_text(c.name, status), rc.cook_controls(c.id, status.state)
        notifier, message = station(context).notifier, query.message
        if notifier is not None and message is not None:
            await cook_notify.show(notifier, message.chat.id, message.message_id, text, markup,
                                   c.id)
        else:
            await query.edit_message_text(text, reply_markup=markup)
    elif action == "qv" and number is not None:
        await review(update, context, user, c, number)
    elif action == "qk" and number is not None:
        await app.cook.keep(user, c.id, number)
        fresh = await app.collections.view(user, c.id)
        await answer(update, f"✅ Kept #{number}: {fresh.name} has "
                     f"{rc.plural(fresh.items, 'item')}.")
    elif action == "qj" and number is not None:
        await app.cook.reject(user, c.id, number)
        await answer(update, f"❌ Rejected #{number}.")
    elif action == "qr" and number is not None:
        if not await TelegramTurn(update, context).allowed(START):
            return
        _cooking_again(context, c)
        await app.cook.regenerate(user, c.id, number)
        await answer(update, f"🔄 Making #{number} again with a new seed; the cook status "
                     "message follows it.")
    else:
        raise NotFound("unknown button")


async def _start(update: Update, context: Ctx, user: Account, c: Collection) -> None:
    """A status message first; the run carries its address, so the notifier edits it with
    "n/total" as pieces finish (after a restart too)."""
    app = station(context).app
    chat = update.effective_chat
    assert chat is not None
    if not await TelegramTurn(update, context).allowed(START):
        return
    status_message = await answer(update, f"🍳 {c.name}: starting…")
    _cooking_again(context, c)
    assert status_message is not None
    address = TelegramReply(chat.id, status_message.message_id)
    try:
        status = await app.cook.start(user, c.id, reply=address)
    except StationError as exc:
        await status_message.edit_text(error_text(exc))
        return
    if not status.recognised:
        return  # a new run: the notifier edits this message from now on
    # a run of this configuration already existed (and keeps its own status message)
    note = rc.cook_status_text(c.name, status)
    if status.state == "finished":
        note += "\nThis configuration was cooked already: review it, or change it to cook again."
    await status_message.edit_text(note, reply_markup=rc.cook_controls(c.id, status.state))


def _cooking_again(context: Ctx, c: Collection) -> None:
    """The run goes on: its status message shows progress again."""
    notifier = station(context).notifier
    if notifier is not None:
        notifier.cooked.pop(c.id, None)
