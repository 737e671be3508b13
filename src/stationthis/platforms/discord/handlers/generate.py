"""/make (with an optional image: image-to-image), /upscale and /rmbg; the result buttons
go through the chat kernel's table (``chat/actions.py``)."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import InvalidInput
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.handlers.images import ingest
from stationthis.workflows.commands import Make, RemoveBackground, Upscale

MAKE_OPTIONS = ("negative", "width", "height", "steps", "seed", "batch", "cfg")


async def make(ix: Interaction) -> None:
    options = ix.options()
    prompt = str(options.get("prompt") or "").strip()
    if not prompt:
        raise InvalidInput("What should I make? `/make prompt:a red fox in the snow`")
    app = ix.app
    chosen: dict[str, Any] = {k: options[k] for k in MAKE_OPTIONS if options.get(k) is not None}
    chosen["prompt"] = prompt
    images: dict[str, str] = {}
    tool: str | None = None  # the user's default
    if options.get("image") is not None:
        item = ix.attachment(options["image"])
        if item is None:
            raise InvalidInput("the attached image is missing; attach it again")
        tool = "img2img"
        inputs = app.tools.get(tool).inputs
        chosen = {k: v for k, v in chosen.items() if k in inputs}
        images["image"] = await ingest(ix, await ix.user(), item)
    await submit(ix, app, lambda who: Make(who, chosen, images, tool))


async def upscale(ix: Interaction) -> None:
    await _on_attachment(ix, "upscale", int(ix.options().get("scale") or 2))


async def rmbg(ix: Interaction) -> None:
    await _on_attachment(ix, "rmbg", None)


async def _on_attachment(ix: Interaction, what: str, scale: int | None) -> None:
    item = ix.attachment(ix.options().get("image"))
    if item is None:
        raise InvalidInput(f"Attach the image to /{what}.")
    media_id = await ingest(ix, await ix.user(), item)
    if what == "upscale":
        await submit(ix, ix.app, lambda who: Upscale(who, media_id, scale or 2))
    else:
        await submit(ix, ix.app, lambda who: RemoveBackground(who, media_id))
