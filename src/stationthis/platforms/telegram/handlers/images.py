"""Images that come in with a message: a photo, an image sent as a file, or one of the bot's
own results (its buttons carry the media id). Sizes are checked before anything is
downloaded; the bytes then go through the hardened loader."""

from __future__ import annotations

from telegram import Message

from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.telegram.callbacks import unpack
from stationthis.platforms.telegram.handlers.common import Ctx, station

BOT_DOWNLOAD_MAX = 20 * 1024 * 1024  # Telegram's limit for bots
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


def has_image(message: Message | None) -> bool:
    if message is None:
        return False
    return bool(message.photo) or (message.document is not None and (
        message.document.mime_type or "").lower() in IMAGE_TYPES)


def bot_media_id(message: Message, bot_id: int) -> str | None:
    """The media id of one of the bot's single results (from its upscale button)."""
    if message.from_user is None or message.from_user.id != bot_id or message.reply_markup is None:
        return None
    for row in message.reply_markup.inline_keyboard:
        for key in row:
            action, parts = unpack(str(key.callback_data or ""))
            if action == "u" and parts and len(message.photo or ()) > 0:
                return parts[0]
    return None


async def media_from(message: Message | None, user: Account, context: Ctx, *,
                     what: str = "this") -> str:
    """The media id of the image in ``message`` (uploaded for ``user`` if it is new)."""
    if message is None:
        raise InvalidInput(f"Reply to a photo with {what}.")
    own = bot_media_id(message, context.bot.id)
    if own is not None:
        return own
    data = await download(message, context)
    item = await station(context).app.media.ingest(user.id, data, kind="upload")
    return item.id


async def download(message: Message, context: Ctx) -> bytes:
    if message.sticker is not None:
        raise InvalidInput("Stickers can't be used here: send a photo or a PNG/JPEG/WEBP file.")
    if message.photo:
        photo = message.photo[-1]
        file_id, size = photo.file_id, photo.file_size
    elif message.document is not None:
        mime = (message.document.mime_type or "").lower()
        if mime not in IMAGE_TYPES:
            raise InvalidInput(f"That file is not an image I can use ({mime or 'unknown type'})"
                               ": send a PNG, JPEG or WEBP.")
        file_id, size = message.document.file_id, message.document.file_size
    else:
        raise InvalidInput("That message has no image: reply to a photo.")
    limit = min(BOT_DOWNLOAD_MAX, station(context).app.media.max_bytes)
    if size is not None and size > limit:
        raise InvalidInput(f"That image is too large ({size / 1_048_576:.1f} MB); the limit is "
                           f"{limit / 1_048_576:.0f} MB.")
    file = await context.bot.get_file(file_id)
    return bytes(await file.download_as_bytearray())
