"""/inpaint: repaint the region of an attached image that an attached mask marks (white =
repaint, black = keep; the image's own size), from a prompt. Without a mask at hand, the 🖌
Vary region link under a result opens the web painter, where it is painted with a brush."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import InvalidImage, InvalidInput
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.handlers.images import ingest
from stationthis.workflows.commands import Inpaint

OPTIONS = ("negative", "seed", "steps")
HOW = ("Attach the image and its mask (the same size: white where to repaint, black where to "
       "keep) and say what to paint: `/inpaint prompt:a red scarf image:… mask:…`.")


async def inpaint(ix: Interaction) -> None:
    options = ix.options()
    prompt = str(options.get("prompt") or "").strip()
    image, mask = ix.attachment(options.get("image")), ix.attachment(options.get("mask"))
    if not prompt or image is None or mask is None:
        raise InvalidInput(HOW)
    chosen: dict[str, Any] = {k: options[k] for k in OPTIONS if options.get(k) is not None}
    user = await ix.user()
    image_id = await ingest(ix, user, image)
    try:
        mask_id = await ingest(ix, user, mask)
    except InvalidImage as exc:
        raise InvalidImage(f"The mask: {exc.message}") from None
    await submit(ix, ix.app, lambda who: Inpaint(who, image_id, mask_id, prompt, chosen))
