"""Cooking a collection as Telegram and Discord share it: reading a configuration typed in
chat (one line ``SUPPLY | MASTER PROMPT | TYPE: trait, trait*2`` or JSON; the traits of a
form as lines or JSON), starting a run behind its status message (the run carries that
message's address, so the notifier edits it as pieces finish), pause / resume / cancel, and
the review's keep, reject and make-again, with what each says."""

from __future__ import annotations

import json
from typing import Any

from stationthis.core.collections import Collection
from stationthis.core.errors import InvalidInput, NotFound, StationError
from stationthis.core.users import Account
from stationthis.platforms.chat.collections import items_text
from stationthis.platforms.chat.limits import START
from stationthis.platforms.chat.texts import error_text
from stationthis.platforms.chat.turn import ChatTurn, Words
from stationthis.workflows.cook import CookStatus
from stationthis.workflows.cook_text import trait_type
from stationthis.workflows.services import Services

CONTROLS = ("pause", "resume", "cancel")
NOT_STARTED = "Not started; nothing was charged."
FINISHED_ALREADY = "This configuration was cooked already: review it, or change it to cook again."


# ----- reading a configuration ---------------------------------------------------------------

def parse_config(text: str, usage: str) -> dict[str, Any]:
    """``SUPPLY | MASTER PROMPT | TYPE: trait, trait*2 | …`` or a JSON object; ``usage``
    is the refusal when it is neither."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"That JSON does not parse: {exc}.") from None
        if not isinstance(data, dict):
            raise InvalidInput("A cook configuration is a JSON object.")
        return data
    parts = [p.strip() for p in text.split("|")]
    if len(parts) < 2 or not parts[0].isdigit():
        raise InvalidInput(usage)
    types = [trait_type(part, number) for number, part in enumerate(parts[2:], start=1)]
    return {"supply": int(parts[0]), "master_prompt": parts[1], "trait_types": types}


def supply(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"The supply is a whole number of pieces, at least 1 (got {text!r}).")
    return int(text)


# ----- a run ---------------------------------------------------------------------------------

def starting_text(c: Collection, words: Words) -> str:
    return f"🍳 Cooking {words.strong(c.name)}: starting…"


async def start(turn: ChatTurn, app: Services, c: Collection) -> CookStatus | None:
    """A status message first, then the run with its address (None when refused: the turn
    said why, in place of the status message). A run of this configuration that existed
    already comes back ``recognised``, with its own status message."""
    if not await turn.allowed(START):
        return None
    user = await turn.user()
    address = await turn.status(starting_text(c, turn.words))
    try:
        return await app.cook.start(user, c.id, reply=address)
    except StationError as exc:  # e.g. another configuration's run is unfinished
        await turn.fail(error_text(exc, turn.words.command("/cancel")))
        return None


async def control(app: Services, user: Account, c: Collection, what: str) -> CookStatus:
    """``pause``, ``resume`` or ``cancel`` the collection's run."""
    if what not in CONTROLS:
        raise InvalidInput(f"unknown cook control {what!r}")
    step = {"pause": app.cook.pause, "resume": app.cook.resume, "cancel": app.cook.cancel}
    return await step[what](user, c.id)


async def current(app: Services, user: Account, c: Collection) -> CookStatus | None:
    """The collection's run as it is now, or None when it has none."""
    try:
        return await app.cook.status(user, c.id)
    except NotFound:
        return None


async def review_step(turn: ChatTurn, app: Services, c: Collection, what: str, number: int
                      ) -> str | None:
    """``keep``, ``reject`` or ``regenerate`` piece ``number``; what to say (None when the
    allowance refused a new image: the turn said why)."""
    user = await turn.user()
    if what == "keep":
        await app.cook.keep(user, c.id, number)
        fresh = await app.collections.view(user, c.id)
        return f"✅ Kept #{number}: {fresh.name} has {items_text(fresh.items)}."
    if what == "reject":
        await app.cook.reject(user, c.id, number)
        return f"❌ Rejected #{number}."
    if what == "regenerate":
        if not await turn.allowed(START):
            return None
        await app.cook.regenerate(user, c.id, number)
        return f"🔄 Making #{number} again with a new seed; the cook status message follows it."
    raise InvalidInput("This button is out of date.")
