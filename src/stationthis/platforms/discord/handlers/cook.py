"""/collections cook and review: the cook form (master prompt, traits as lines or JSON,
supply), the quote, start / pause / resume / cancel, and the review pages (keep, reject,
make again). A run's progress and end edit its message through ``cook_watch``."""

from __future__ import annotations

from typing import Any

from stationthis.core.collections import Collection
from stationthis.core.collections_traits import CookConfig
from stationthis.core.users import Account
from stationthis.platforms.chat import cook as kitchen
from stationthis.platforms.discord import collections_render as cr
from stationthis.platforms.discord.cook_watch import cook_payload
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.rest import File
from stationthis.workflows.cook_text import parse_traits


async def saved_config(ix: Interaction, user: Account, c: Collection) -> CookConfig | None:
    if not c.cook:
        return None
    return await ix.app.cook.config(user, c.id)


async def show_review(ix: Interaction, user: Account, c: Collection, page: int) -> None:
    app = ix.app
    found = await app.cook.pieces(user, c.id, state="done", page=page,
                                  per_page=cr.REVIEW_PAGE + 1)
    more, shown = len(found) > cr.REVIEW_PAGE, found[:cr.REVIEW_PAGE]
    files = []
    for piece in shown:
        if piece.media_id is not None:
            media = await app.media.get(piece.media_id)
            files.append(File(f"piece{piece.number}.jpg", await app.media.thumbnail(media),
                              "image/jpeg"))
    payload = cr.review(c, shown, page, more, [f.name for f in files])
    if not files:
        payload["attachments"] = []
    await ix.reply(payload, files or None)


async def cook_pressed(ix: Interaction, user: Account, c: Collection, action: str) -> None:
    if action == "ckn":
        await ix.reply(cr.plain(kitchen.NOT_STARTED, components=[]))
        return
    if action == "cks":
        found = await kitchen.start(ix, ix.app, c)
        if found is None:
            return  # refused: the interaction said why
    else:
        what = {"ckp": "pause", "ckr": "resume", "ckc": "cancel"}[action]
        found = await kitchen.control(ix.app, user, c, what)
    await ix.reply(await cook_payload(ix.app, found.run_id) or cr.cook_status(c.name, found))


async def cook_configured(ix: Interaction, collection_id: str) -> None:
    values = ix.modal_values()
    user = await ix.user()
    c = await ix.app.collections.view(user, collection_id)
    config: dict[str, Any] = dict(c.cook or {})
    config.update(master_prompt=values.get("prompt", ""),
                  trait_types=parse_traits(values.get("traits", "")),
                  supply=kitchen.supply(values.get("supply", "")))
    await ix.app.cook.configure(user, c.id, config)
    quote = await ix.app.cook.quote(user, c.id)
    plans = await ix.app.cook.preview(user, c.id, 3)
    await ix.reply(cr.cook_quote(c, quote, plans))


