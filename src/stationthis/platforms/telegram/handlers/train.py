"""/train and /models: datasets (create, add photos or an album, list, view, caption,
delete with confirm), the training's quote with a confirm button, and the "add to dataset"
button under results."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from telegram import Message, Update

from stationthis.core.datasets import Dataset
from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.chat import datasets, flows
from stationthis.platforms.telegram import render
from stationthis.platforms.telegram.handlers import describe, inpaint, reference
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    answer,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import effect, rest_of, rmbg, upscale
from stationthis.platforms.telegram.handlers.images import download

log = logging.getLogger(__name__)
ALBUM_WAIT = 0.8  # seconds to collect the items of an album (they arrive together)
USAGE = ("/train create NAME [TRIGGER] · /train add NAME (caption a photo or an album with it, "
         "or reply to a photo) · /train list · /train view NAME · /train caption NAME N TEXT · "
         "/train submit NAME · /train delete NAME")


@dataclass
class Album:
    items: list[Message] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


async def find(user: Account, context: Ctx, ref: str) -> Dataset:
    """A dataset by its number in /train list, its name, or its id."""
    return await datasets.find(station(context).app, user, ref, render.WORDS)


@guarded
async def train(update: Update, context: Ctx) -> None:
    app = station(context).app
    user = await user_of(update, context)
    words = rest_of(update.effective_message).split()
    sub, args = (words[0].lower(), words[1:]) if words else ("list", [])
    if sub == "list":
        found = await app.datasets.list_for(user.id)
        await answer(update, render.datasets_text(
            found, [app.datasets.readiness(d) for d in found]))
    elif sub == "create":
        if not args:
            raise InvalidInput("Name it: /train create mydog [trigger]")
        ds = await app.datasets.create(user.id, args[0], args[1] if len(args) > 1 else None)
        await answer(update, datasets.created_text(
            ds, render.WORDS, f"Now send photos captioned /train add {ds.name} — an album "
            "works too; each photo's caption is its training caption."))
    elif sub == "add":
        message = update.effective_message
        target = message.reply_to_message if message is not None else None
        if not args:
            raise InvalidInput("Which dataset? /train add NAME, as a reply to a photo.")
        if target is None:
            raise InvalidInput(f"Reply to a photo with /train add {args[0]}, or send photos "
                               f"captioned /train add {args[0]}.")
        ds = await find(user, context, args[0])
        caption = " ".join(args[1:]) or target.caption
        await _add(update, context, ds, [(target, caption)])
    elif sub == "view" and args:
        ds = await find(user, context, args[0])
        ready = app.datasets.readiness(ds)
        await answer(update, render.dataset_text(ds, ready),
                     reply_markup=render.dataset_keyboard(ds, ready.ready))
    elif sub == "caption" and len(args) >= 3 and args[1].isdigit():
        ds = await find(user, context, args[0])
        await datasets.caption(app, user, ds, int(args[1]), " ".join(args[2:]))
        await answer(update, datasets.caption_text(int(args[1])))
    elif sub == "submit" and args:
        await _quote(update, context, user, await find(user, context, args[0]))
    elif sub == "delete" and args:
        ds = await find(user, context, args[0])
        await answer(update, datasets.delete_question(ds),
                     reply_markup=render.confirm_keyboard("xc", ds.id, "🗑 Delete"))
    else:
        await answer(update, USAGE)


async def _quote(update: Update, context: Ctx, user: Account, ds: Dataset) -> None:
    quote = await datasets.quote(station(context).app, user, ds)
    await answer(update, datasets.quote_text(ds, quote, render.WORDS),
                 reply_markup=render.confirm_keyboard("tc", ds.id, "🚀 Train")
                 if quote.fits else None)


async def _add(update: Update, context: Ctx, ds: Dataset,
               items: list[tuple[Message, str | None]]) -> None:
    def fetch(message: Message) -> datasets.Fetch:
        return lambda: download(message, context)

    fresh = await datasets.add(TelegramTurn(update, context), station(context).app, ds,
                               [(fetch(message), caption) for message, caption in items])
    if fresh is not None:
        ready = station(context).app.datasets.readiness(fresh)
        await answer(update, datasets.added_text(len(items), fresh, ready))


# ----- photos with a command in the caption, albums ------------------------------------------

def caption_command(message: Message | None) -> str:
    text = (message.caption or "") if message else ""
    if not text.startswith("/"):
        return ""
    return text.split(maxsplit=1)[0][1:].split("@")[0].lower()


@guarded
async def photo(update: Update, context: Ctx) -> None:
    """A photo or image file: captioned with a command, it is that command's image."""
    message = update.effective_message
    if message is None:
        return
    if message.media_group_id:
        _collect(update, context, message)
        return
    command = caption_command(message)
    if command == "train":
        await _add_captioned(update, context, [message])
    elif command in ("upscale",):
        await upscale(update, context)
    elif command == "rmbg":
        await rmbg(update, context)
    elif command in ("effect", "img2img"):
        await effect(update, context)
    elif command == "inpaint":
        await inpaint.inpaint(update, context)
    elif command == "ref":
        await reference.ref(update, context)
    elif command == "describe":
        await describe.describe(update, context)
    elif inpaint.is_captioned_mask(message, context.bot.id):
        await inpaint.captioned(update, context)
    elif message.chat.type == "private":
        await answer(update, "Got it. Reply to it with /upscale, /rmbg, /effect PROMPT, "
                     "/ref PROMPT (a new picture that follows it), /describe (prompts for "
                     "it) or /train add DATASET.")


def _collect(update: Update, context: Ctx, message: Message) -> None:
    albums = station(context).albums
    key = str(message.media_group_id)
    album = albums.setdefault(key, Album())
    album.items.append(message)
    if album.task is None:
        album.task = asyncio.create_task(_album_later(update, context, key))


async def _album_later(update: Update, context: Ctx, key: str) -> None:
    await asyncio.sleep(ALBUM_WAIT)
    album = station(context).albums.pop(key, None)
    if album is None:
        return
    items = sorted(album.items, key=lambda m: m.message_id)
    await guarded(lambda u, c: _add_captioned(u, c, items))(update, context)


async def _add_captioned(update: Update, context: Ctx, items: list[Message]) -> None:
    """Photos of which one is captioned ``/train add NAME [caption]``."""
    head = next((m for m in items if caption_command(m) == "train"), None)
    if head is None:
        if items[0].chat.type == "private":
            await answer(update, f"Got {len(items)} photos. To add them to a dataset, send the "
                         "album again captioned /train add NAME.")
        return
    words = (head.caption or "").split()
    if len(words) < 3 or words[1].lower() != "add":
        raise InvalidInput("Caption the photos /train add NAME (see /train).")
    user = await user_of(update, context)
    ds = await find(user, context, words[2])
    pairs: list[tuple[Message, str | None]] = [
        (m, " ".join(words[3:]) or None if m is head else m.caption) for m in items]
    await _add(update, context, ds, pairs)


# ----- buttons ---------------------------------------------------------------------------

async def pick_dataset(update: Update, context: Ctx, media_id: str) -> None:
    user = await user_of(update, context)
    found = await datasets.pickable(station(context).app, user, media_id)
    if not found:
        await answer(update, datasets.none_yet(render.WORDS))
        return
    await answer(update, datasets.PICK,
                 reply_markup=render.pick_dataset_keyboard(media_id, found))


async def add_output(update: Update, context: Ctx, media_id: str, dataset_id: str) -> None:
    user = await user_of(update, context)
    await answer(update, await datasets.add_output(station(context).app, user, media_id,
                                                   dataset_id))


async def pressed(update: Update, context: Ctx, action: str, parts: list[str]) -> None:
    app = station(context).app
    user = await user_of(update, context)
    query = update.callback_query
    assert query is not None and parts
    if action == "no":
        await query.edit_message_text(datasets.NOT_STARTED)
        return
    ds = await app.datasets.get(user.id, parts[0])
    if action == "ts":
        await _quote(update, context, user, ds)
    elif action == "xd":
        await answer(update, datasets.delete_question(ds),
                     reply_markup=render.confirm_keyboard("xc", ds.id, "🗑 Delete"))
    elif action == "xc":
        await query.edit_message_text(await datasets.delete(app, user, ds.id))
    elif action == "tc":
        await query.edit_message_reply_markup(None)  # one press, one training
        await flows.train(TelegramTurn(update, context), app, ds.id)


@guarded
async def models(update: Update, context: Ctx) -> None:
    app = station(context).app
    await answer(update, render.models_text(await app.training.my_models(
        await user_of(update, context))))
