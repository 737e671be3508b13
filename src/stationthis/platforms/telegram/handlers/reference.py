"""/ref: a new picture that follows a reference image (platforms/chat/reference.py).

``/ref PROMPT`` sent as a reply to the reference — a photo, an image file or one of the bot's
results — or as the caption of the photo itself; ``/ref pose|depth|style PROMPT`` picks the
kind (canny, the edges, by default). Without an image or a prompt it says how, for free."""

from __future__ import annotations

from telegram import Message, Update

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.chat.reference import kinds, reference, reference_tool, split_kind
from stationthis.platforms.chat.texts import reference_help
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of
from stationthis.platforms.telegram.handlers.images import has_image, media_from

HOW = "reply to it (a photo, an image file or one of my results) with /ref and what to draw"


def how(context: Ctx) -> str:
    return reference_help(HOW, "/ref a castle at dusk or /ref pose a dancer",
                          list(kinds(station(context).app)))


def _reference_message(message: Message) -> Message | None:
    """The image /ref acts on: the captioned photo itself, else the message replied to."""
    if has_image(message):
        return message
    replied = message.reply_to_message
    return replied if has_image(replied) else None


@guarded
async def ref(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is None:
        return
    app = station(context).app
    kind, prompt = split_kind(app, rest_of(message))
    image = _reference_message(message)
    if image is None:
        raise InvalidInput(how(context))
    if not prompt:
        raise InvalidInput("Say what to draw: /ref a castle at dusk (or /ref pose a dancer), "
                           "as a reply to the reference image.")
    tool = reference_tool(app, kind)  # an unknown kind is refused before any download
    media_id = await media_from(image, await user_of(update, context), context, what="/ref")
    await submit(TelegramTurn(update, context), app,
                 lambda who: reference(who, tool, media_id, prompt))
