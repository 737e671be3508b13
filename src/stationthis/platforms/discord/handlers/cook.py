"""/collections cook and review: the cook form (master prompt, traits as lines or JSON,
supply), the quote, start / pause / resume / cancel, and the review pages (keep, reject,
make again). A run's progress and end edit its message through ``cook_watch``."""

from __future__ import annotations

import json
from typing import Any

from stationthis.core.collections import Collection
from stationthis.core.collections_traits import CookConfig
from stationthis.core.errors import InvalidInput, StationError
from stationthis.core.users import Account
from stationthis.platforms.chat.limits import START
from stationthis.platforms.discord import collections_render as cr
from stationthis.platforms.discord.cook_watch import cook_payload
from stationthis.platforms.discord.handlers.common import Interaction, error_text, reply_address
from stationthis.platforms.discord.render import button, row
from stationthis.platforms.discord.rest import File


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
    cook = ix.app.cook
    if action == "ckn":
        await ix.reply(cr.plain("Not started; nothing was charged.", components=[]))
        return
    if action == "cks":
        if not await ix.allowed(START):
            return
        status = await ix.reply(cr.plain(f"🍳 Cooking **{c.name}**: starting…", components=[]))
        try:
            found = await cook.start(user, c.id, reply=reply_address(ix, status))
        except StationError as exc:  # e.g. another configuration's run is unfinished
            await ix.reply(cr.plain(error_text(exc), components=[
                row(button("📚 Back", "cv", c.id))]))
            return
    else:
        found = await {"ckp": cook.pause, "ckr": cook.resume, "ckc": cook.cancel}[action](
            user, c.id)
    await ix.reply(await cook_payload(ix.app, found.run_id) or cr.cook_status(c.name, found))


async def cook_configured(ix: Interaction, collection_id: str) -> None:
    values = ix.modal_values()
    user = await ix.user()
    c = await ix.app.collections.view(user, collection_id)
    config: dict[str, Any] = dict(c.cook or {})
    config.update(master_prompt=values.get("prompt", ""),
                  trait_types=parse_traits(values.get("traits", "")),
                  supply=_supply(values.get("supply", "")))
    await ix.app.cook.configure(user, c.id, config)
    quote = await ix.app.cook.quote(user, c.id)
    plans = await ix.app.cook.preview(user, c.id, 3)
    await ix.reply(cr.cook_quote(c, quote, plans))


def _supply(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"The supply is a whole number of pieces, at least 1 (got {text!r}).")
    return int(text)


def parse_traits(text: str) -> list[dict[str, Any]]:
    """Trait types from JSON (a list of {name, traits} or {type: [traits] | {trait: weight}})
    or from lines ``animal: fox*3, owl, city=a big city``."""
    text = text.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"The traits are not valid JSON: {exc.msg} (line {exc.lineno})."
                               ) from None
        if isinstance(data, dict):
            return [{"name": k, "traits": [{"name": t, "weight": w} for t, w in v.items()]
                     if isinstance(v, dict) else v} for k, v in data.items()]
        return data if isinstance(data, list) else [data]
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, rest = line.partition(":")
        if not colon or not name.strip():
            raise InvalidInput(f"Traits line {number} needs `type: trait, trait` "
                               f"(got {line.strip()!r}).")
        found.append({"name": name.strip(),
                      "traits": [_trait(item) for item in rest.split(",") if item.strip()]})
    return found


def _trait(text: str) -> dict[str, Any]:
    text, star, weight = text.strip().rpartition("*") if "*" in text else (text.strip(), "", "")
    trait: dict[str, Any] = {}
    if star:
        try:
            trait["weight"] = float(weight)
        except ValueError:
            raise InvalidInput(f"The weight after * must be a number (got {weight!r}).") from None
    name, equals, prompt = text.partition("=")
    trait["name"] = name.strip()
    if equals:
        trait["prompt"] = prompt.strip()
    return trait
