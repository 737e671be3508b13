"""/ref: a new picture that follows an attached reference image (platforms/chat/reference.py)
— its edges (canny) by default, or ``kind:`` pose, depth or style. Without an image or a
prompt it says how, privately and for free."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.chat.reference import kinds, reference, reference_tool
from stationthis.platforms.chat.texts import reference_help
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.handlers.images import ingest

OPTIONS = ("negative", "seed", "steps", "strength")
HOW = "attach it and say what to draw"
EXAMPLE = "`/ref prompt:a castle at dusk image:… kind:pose`"


async def ref(ix: Interaction) -> None:
    options = ix.options()
    prompt = str(options.get("prompt") or "").strip()
    image = ix.attachment(options.get("image"))
    if image is None:
        raise InvalidInput(reference_help(HOW, EXAMPLE, list(kinds(ix.app))))
    if not prompt:
        raise InvalidInput(f"Say what to draw: {EXAMPLE}.")
    kind = options.get("kind")
    tool = reference_tool(ix.app, str(kind) if kind else None)
    chosen: dict[str, Any] = {k: options[k] for k in OPTIONS if options.get(k) is not None}
    image_id = await ingest(ix, await ix.user(), image)
    await submit(ix, ix.app, lambda who: reference(who, tool, image_id, prompt, chosen))
