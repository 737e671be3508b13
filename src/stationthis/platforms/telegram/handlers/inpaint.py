"""/inpaint: repaint the region of an image that a mask marks ("vary region").

The mask is a photo or image file (white = repaint, black = keep, the image's own size) sent
as a reply to the image — one of the bot's results or any photo — with ``/inpaint PROMPT`` as
its caption. In a private chat a plain caption on a mask sent as a reply to one of the bot's
results is enough. ``/inpaint`` sent otherwise says how, with the link into the web painter
(where the mask is painted with a brush) when the web app has a public address.
"""

from __future__ import annotations

from telegram import Message, Update

from stationthis.core.errors import InvalidImage, InvalidInput
from stationthis.platforms.chat.actions import painter_base, painter_url
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of
from stationthis.platforms.telegram.handlers.images import bot_media_id, has_image, media_from
from stationthis.workflows.commands import Inpaint

HOW = ("To vary a region: paint it white on a black picture the size of the image (the mask), "
       "send the mask as a reply to the image with the caption /inpaint and what to paint there, "
       "e.g. /inpaint a red scarf.")


def _how(context: Ctx, image: Message | None) -> str:
    """The instructions, with the web painter's link for the image replied to (if known)."""
    base = painter_base(station(context).app)
    media = bot_media_id(image, context.bot.id) if image is not None else None
    if base is None or media is None:
        return HOW
    return f"{HOW}\nOr paint the mask with a brush on the web: {painter_url(base, media)}"


@guarded
async def inpaint(update: Update, context: Ctx) -> None:
    """``/inpaint PROMPT`` as a mask's caption (or the command alone: how to)."""
    message = update.effective_message
    if message is None:
        return
    if not has_image(message):  # a text command: no mask came with it
        raise InvalidInput(_how(context, message.reply_to_message))
    await _submit(update, context, message, rest_of(message))


def is_captioned_mask(message: Message, bot_id: int) -> bool:
    """A photo with a plain caption sent in a private chat as a reply to one of the bot's
    results: an inpaint of that result with the caption as its prompt."""
    return bool(message.chat.type == "private" and message.caption
                and not message.caption.startswith("/") and message.reply_to_message
                and bot_media_id(message.reply_to_message, bot_id) is not None)


async def captioned(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is not None:
        await _submit(update, context, message, message.caption or "")


async def _submit(update: Update, context: Ctx, mask_message: Message, prompt: str) -> None:
    image_message = mask_message.reply_to_message
    if image_message is None or not has_image(image_message):
        raise InvalidInput("Send the mask as a reply to the image it is for. " + HOW)
    if not prompt.strip():
        raise InvalidInput("Say what to paint in the region: /inpaint a red scarf "
                           "(as the caption of the mask).")
    user = await user_of(update, context)
    image = await media_from(image_message, user, context, what="/inpaint")
    try:
        mask = await media_from(mask_message, user, context, what="/inpaint")
    except InvalidImage as exc:
        raise InvalidImage(f"The mask: {exc.message}") from None
    await submit(TelegramTurn(update, context), station(context).app,
                 lambda who: Inpaint(who, image, mask, prompt.strip()))
