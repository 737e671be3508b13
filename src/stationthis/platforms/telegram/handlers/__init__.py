"""Telegram input → workflow calls. ``register`` wires every handler into the application."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from stationthis.core.text import invalid_text
from stationthis.platforms.chat.limits import flood_text
from stationthis.platforms.telegram.handlers import (
    account,
    buttons,
    collections,
    cook,
    describe,
    generate,
    inpaint,
    payments,
    recall,
    reference,
    settings,
    styles,
    train,
    web,
)
from stationthis.platforms.telegram.handlers.common import Ctx, Station, answer, in_group, station

COMMANDS = {
    "start": account.start, "help": account.help_, "make": generate.make,
    "effect": generate.effect, "img2img": generate.effect, "upscale": generate.upscale,
    "rmbg": generate.rmbg, "settings": settings.settings, "balance": account.balance,
    "history": account.history, "status": account.status, "cancel": account.cancel,
    "link": account.link, "train": train.train, "models": train.models,
    "web": web.web, "collections": collections.collections,
    "collection": collections.collection, "cook": cook.cook, "inpaint": inpaint.inpaint,
    "ref": reference.ref, "describe": describe.describe, "loras": describe.loras,
    "styles": styles.styles, "style": styles.style,
    "wildcards": styles.wildcards, "wildcard": styles.wildcard,
    "regen": recall.regen, "seed": recall.seed, "card": recall.card,
}
DESCRIPTIONS = {
    "make": "make an image: /make a red fox", "effect": "restyle a photo (reply to it)",
    "upscale": "upscale a photo or image (reply to it)",
    "rmbg": "remove the background (reply to a photo)", "settings": "your defaults",
    "balance": "points and allowance", "history": "your last jobs",
    "status": "running jobs", "cancel": "cancel jobs", "train": "datasets and training",
    "models": "your trained models", "link": "link with the web or Discord",
    "web": "a sign-in link for the web studio", "collections": "your collections",
    "collection": "create, view, share, export a collection",
    "cook": "cook a collection from traits",
    "inpaint": "repaint a region: a mask's caption, replying to the image",
    "ref": "follow a reference image (reply to it): /ref [pose|depth|style] PROMPT",
    "describe": "prompts for a picture, each ready to run (reply to it)",
    "loras": "the server's LoRAs and how to use them",
    "styles": "your saved styles and wildcard lists",
    "style": "save a style: /style noir = film noir, {prompt}",
    "wildcards": "your wildcard lists and the group's",
    "wildcard": "save a list: /wildcard colours = red | teal:3",
    "regen": "your last image again, new seed (or reply to a result)",
    "seed": "the seed of your last image (or reply to a result)",
    "card": "how to make your last image again exactly (or reply to a result)",
    "buy": payments.DESCRIPTION,
    "help": "what I can do",
}
_SEEN_ALBUMS = 1000
INVALID_TEXT = ("Sorry, I can't read that: the text must be valid Unicode (found a lone "
                "surrogate). Nothing was done — please send it again.")


def register(application: Application, bot: Station) -> None:  # type: ignore[type-arg]
    application.bot_data["station"] = bot
    application.add_handler(TypeHandler(Update, _rate_limit), group=-2)
    application.add_handler(TypeHandler(Update, _valid_text), group=-1)
    new = filters.UpdateType.MESSAGE  # never an edited message: it would run again
    for name, handler in COMMANDS.items():
        application.add_handler(CommandHandler(name, handler, filters=new))
    payments.register(application)  # /buy, Stars invoices and payments (before catch-alls)
    application.add_handler(CallbackQueryHandler(collections.pressed, pattern=r"^([kq][a-z]?|ca):"))
    application.add_handler(CallbackQueryHandler(buttons.pressed))
    images = filters.PHOTO | filters.Document.IMAGE
    application.add_handler(MessageHandler(new & images & ~filters.COMMAND, train.photo))
    application.add_handler(MessageHandler(new & filters.COMMAND, _unknown))
    application.add_handler(MessageHandler(
        new & filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND, generate.triggered))
    application.add_handler(MessageHandler(
        new & filters.ChatType.PRIVATE & (filters.Sticker.ALL | filters.Document.ALL) & ~images,
        _not_an_image))
    application.add_handler(MessageHandler(
        new & filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, _hint))


async def _rate_limit(update: Update, context: Ctx) -> None:
    """The flood cap (``chat/limits.py``): every message and button press of a user counts
    one, the items of an album once, group chatter not meant for the bot not at all. What
    costs is limited again where it starts (``TelegramTurn.allowed``). Over the cap the user
    is told once when to try again, and the update is dropped before any handler runs."""
    user = update.effective_user
    if user is None:
        return
    bot = station(context)
    message = update.effective_message
    if update.callback_query is None and in_group(update) and message is not None and (
            message.text and not _for_us(message.text, context)):
        return
    group_id = message.media_group_id if message is not None else None
    seen = bot.seen_albums
    if group_id is not None:
        if group_id in seen:
            return
        seen[group_id] = None
        if len(seen) > _SEEN_ALBUMS:
            seen.popitem(last=False)
    verdict = await bot.limiter.message(str(user.id))
    if verdict.allowed:
        return
    query = update.callback_query
    if query is not None:  # always answered, so the button stops spinning
        await query.answer(flood_text(verdict) if verdict.warn else None,
                           show_alert=verdict.warn)
    elif verdict.warn:
        await answer(update, flood_text(verdict))
    raise ApplicationHandlerStop


async def _valid_text(update: Update, context: Ctx) -> None:
    """Text that is not valid Unicode (a lone surrogate) is refused before any handler can
    store it. In a group, only a message meant for the bot gets the refusal."""
    if invalid_text(update.to_dict()) is None:
        return
    query, message = update.callback_query, update.effective_message
    if query is not None:
        await query.answer(INVALID_TEXT, show_alert=True)
    elif message is not None and (not in_group(update) or _for_us(message.text, context)):
        await answer(update, INVALID_TEXT)
    raise ApplicationHandlerStop


def _for_us(text: str | None, context: Ctx) -> bool:
    if not text:
        return False
    trigger = station(context).trigger
    return text.startswith("/") or bool(trigger and text.startswith(trigger))


async def _unknown(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    word = message.text.split(maxsplit=1)[0]
    command, _, target = word[1:].partition("@")
    if in_group(update) and target.lower() != station(context).username.lower():
        return  # a bare command in a group may be for another bot
    if command.lower() in COMMANDS:
        return
    await answer(update, f"I don't know {word.split('@')[0]}. /help lists what I can do.")


async def _hint(update: Update, context: Ctx) -> None:
    await answer(update, "To make an image, send /make and what you want, e.g. "
                 "/make a red fox in the snow. /help lists everything.")


async def _not_an_image(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is not None and message.sticker is not None:
        await answer(update, "Nice sticker! I can only work with photos and PNG/JPEG/WEBP "
                     "files, though.")
    else:
        await answer(update, "That file is not an image I can use: send a PNG, JPEG or WEBP.")
