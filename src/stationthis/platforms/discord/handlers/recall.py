"""/regen, /seed and /card (``chat/recall.py``): the last image job, or ``which:2`` for the
one before (as /history lists them)."""

from __future__ import annotations

from ...chat import recall
from .common import Interaction

MAKE = "`/make prompt:a red fox`"


def target_of(ix: Interaction, command: str) -> recall.Target:
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
