"""Generation: /make (and a plain prompt with the trigger in groups), /effect and /img2img on
a photo, /upscale and /rmbg, and the buttons under every result."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Message, Update

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    answer,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.images import media_from
from stationthis.workflows.commands import Command, Make, RemoveBackground, Requester, Upscale, Vary


def rest_of(message: Message | None) -> str:
    """What follows the command word in a message's text or caption."""
    text = (message.text or message.caption or "") if message else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def make_prompt(update: Update, context: Ctx, prompt: str) -> None:
    if not prompt:
        await answer(update, "What should I make? /make a red fox in the snow")
        return
    await submit(TelegramTurn(update, context), station(context).app,
                 lambda who: Make(who, {"prompt": prompt}))


@guarded
async def make(update: Update, context: Ctx) -> None:
    await make_prompt(update, context, rest_of(update.effective_message))


@guarded
async def triggered(update: Update, context: Ctx) -> None:
    """A plain message in a group that starts with the trigger (e.g. ``@bot a red fox``)."""
    trigger = station(context).trigger
    message = update.effective_message
    if not trigger or message is None or not message.text:
        return
    if message.text.lower().startswith(trigger.lower()):
        await make_prompt(update, context, message.text[len(trigger):].strip(" ,:"))


def _target(update: Update) -> Message | None:
    """The image a command acts on: the replied-to message, or the message itself (a photo
    captioned with the command)."""
    message = update.effective_message
    if message is None:
        return None
    if message.photo or message.document or message.sticker:
        return message
    return message.reply_to_message


@guarded
async def effect(update: Update, context: Ctx) -> None:
    prompt = rest_of(update.effective_message)
    if not prompt:
        raise InvalidInput("Say what to do with it: /effect watercolor painting "
                           "(as a reply to a photo).")
    await _image_tool(update, context, "vary", prompt)


@guarded
async def upscale(update: Update, context: Ctx) -> None:
    await _image_tool(update, context, "upscale", None)


@guarded
async def rmbg(update: Update, context: Ctx) -> None:
    await _image_tool(update, context, "rmbg", None)


async def _image_tool(update: Update, context: Ctx, what: str, prompt: str | None) -> None:
    word = {"vary": "/effect", "upscale": "/upscale", "rmbg": "/rmbg"}[what]
    media_id = await media_from(_target(update), await user_of(update, context), context,
                                what=word)
    commands: dict[str, Callable[[Requester], Command]] = {
        "vary": lambda who: Vary(who, media_id, prompt=prompt),
        "upscale": lambda who: Upscale(who, media_id),
        "rmbg": lambda who: RemoveBackground(who, media_id)}
    await submit(TelegramTurn(update, context), station(context).app, commands[what])
