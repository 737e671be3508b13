"""/describe and /loras (platforms/chat/describe.py, platforms/chat/loras.py).

``/describe`` sent as a reply to an image — a photo, an image file or one of the bot's results
— or as the caption of the photo itself: 3–4 prompts for what it shows, each with a ▶️
button that makes it (the notifier shows them when the job finishes). ``/loras [PAGE]``: the
servers' LoRAs and how to use them."""

from __future__ import annotations

from telegram import Message, Update

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat import describe as describing
from stationthis.platforms.chat.describe import RUN as RUN
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.chat.loras import loras_text, server_loras
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    TelegramTurn,
    answer,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of
from stationthis.platforms.telegram.handlers.images import has_image, media_from

HOW = ("reply to it (a photo, an image file or one of my results) with /describe, or send "
       "the photo with /describe as its caption")


def _image_message(message: Message) -> Message | None:
    """The image /describe acts on: the captioned photo itself, else the message replied to."""
    if has_image(message):
        return message
    replied = message.reply_to_message
    return replied if has_image(replied) else None


@guarded
async def describe(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is None:
        return
    app = station(context).app
    image = _image_message(message)
    if image is None:
        raise InvalidInput(describing.describe_help(HOW))
    tool = describing.describe_tool(app)  # no describe tool: refused before any download
    media_id = await media_from(image, await user_of(update, context), context,
                                what="/describe")
    await submit(TelegramTurn(update, context), app,
                 lambda who: describing.describe(who, tool, media_id))


async def run_prompt(update: Update, context: Ctx, job_id: str, index: str) -> None:
    """▶️ under a describe's prompts: a make of that prompt."""
    await describing.run_prompt(TelegramTurn(update, context), station(context).app, job_id,
                                index)


@guarded
async def loras(update: Update, context: Ctx) -> None:
    word = rest_of(update.effective_message)
    page = int(word) if word.isdigit() else 1
    found = await server_loras(station(context).app)
    await answer(update, loras_text(found, page, "/loras {page}"))
