"""/describe and /loras (platforms/chat/describe.py, platforms/chat/loras.py).

``/describe image:…``: 3–4 prompts for what an attached picture shows, each with a ▶️ button
that makes it (the notifier shows them when the job finishes; only a slash command — a
message command would be the sixth, and Discord allows five). ``/loras [page:]``: the
servers' LoRAs and how to use them."""

from __future__ import annotations

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat import describe as describing
from stationthis.platforms.chat.describe import RUN as RUN
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.chat.loras import loras_text, server_loras
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.handlers.images import ingest

HOW = "attach it: `/describe image:…`"


async def describe(ix: Interaction) -> None:
    image = ix.attachment(ix.options().get("image"))
    if image is None:
        raise InvalidInput(describing.describe_help(HOW))
    tool = describing.describe_tool(ix.app)  # no describe tool: refused before any download
    image_id = await ingest(ix, await ix.user(), image)
    await submit(ix, ix.app, lambda who: describing.describe(who, tool, image_id))


async def run_prompt(ix: Interaction, job_id: str, index: str) -> None:
    """▶️ under a describe's prompts: a make of that prompt."""
    await describing.run_prompt(ix, ix.app, job_id, index)


async def loras(ix: Interaction) -> None:
    await ix.user()
    page = ix.options().get("page")
    found = await server_loras(ix.app)
    await ix.say(loras_text(found, int(page) if isinstance(page, int) else 1,
                            "`/loras page:{page}`"))
