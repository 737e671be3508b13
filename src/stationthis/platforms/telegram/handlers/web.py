"""/web: a one-time sign-in link for the web app, sent only in a private chat."""

from __future__ import annotations

from telegram import LinkPreviewOptions, Update

from stationthis.config import Settings
from stationthis.core.errors import InvalidInput
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    answer,
    guarded,
    in_group,
    station,
    user_of,
)


def web_base(settings: Settings) -> str:
    """Where the web app is reached: the public URL, else the address it listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return f"http://{settings.host}:{settings.port}"


@guarded
async def web(update: Update, context: Ctx) -> None:
    if in_group(update):  # a sign-in link posted in a group signs in whoever clicks first
        raise InvalidInput("Use /web in a private chat with me: a sign-in link is personal.")
    app = station(context).app
    user = await user_of(update, context)
    token = await app.auth.create_login_link(user)
    minutes = app.settings.web.login_link_minutes
    when = f"{minutes:g} minute{'s' if minutes != 1 else ''}"
    await answer(update, "Your sign-in link for the web studio:\n"
                 f"{app.auth.login_url(web_base(app.settings), token)}\n"
                 f"It works once and expires in {when}. Don't share it: it signs in as you.",
                 link_preview_options=LinkPreviewOptions(is_disabled=True))
