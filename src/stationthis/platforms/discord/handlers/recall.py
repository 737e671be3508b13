"""/regen, /seed and /card (``chat/recall.py``): the last image job, or ``which:2`` for the
one before (as /history lists them); and the message commands Regenerate, Seed and Card
(a result's menu → Apps), on the result they are used on."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat import recall
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.ids import unpack

MAKE = "`/make prompt:a red fox`"
MESSAGE_COMMAND = 3


def target_of(ix: Interaction, command: str) -> recall.Target:
    if ix.body.get("type") == MESSAGE_COMMAND:
        return _result_of(ix, command)
    which = ix.options().get("which")
    usage = (f"`{command}` alone is your last image job; `{command} which:2` the one before "
             "(see `/history`).")
    return recall.Target(number=recall.number_of("" if which is None else str(which), usage))


async def regen(ix: Interaction) -> None:
    await recall.regen(ix, ix.app, target_of(ix, "/regen"))


async def seed(ix: Interaction) -> None:
    target = target_of(ix, "/seed")
    await ix.say(await recall.seed(ix.app, await ix.user(), target, "`/seed`", MAKE))


async def card(ix: Interaction) -> None:
    target = target_of(ix, "/card")
    text = await recall.card(ix.app, await ix.user(), target, "`/card`", MAKE)
    head, _, rest = text.partition("\n")
    await ix.say(f"**{head}**\n```\n{rest}\n```")


def _result_of(ix: Interaction, command: str) -> recall.Target:
    """The result a message command was used on: its buttons carry its ids."""
    messages = (ix.body.get("resolved") or {}).get("messages") or {}
    message: dict[str, Any] = messages.get(str(ix.body.get("target_id"))) or {}
    found = recall.target_of_buttons(
        unpack(str(c["custom_id"])) for line in message.get("components") or []
        for c in line.get("components") or [] if isinstance(c, dict) and "custom_id" in c)
    if found is None:
        raise InvalidInput(f"That is not one of my results: use {command} on an image I "
                           "made, or the slash command for your last one.")
    return found
