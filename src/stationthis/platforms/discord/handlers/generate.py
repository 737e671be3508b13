"""/make (with an optional image: image-to-image), /upscale, /rmbg, and the result buttons
🔄 regenerate, ⬆️ upscale and 🎲 variations."""

from __future__ import annotations

from typing import Any

from ....core.errors import InvalidInput
from ....core.users import Account
from ....workflows.make_image import Request
from .common import Interaction, submit
from .images import ingest

VARIATION_STRENGTH = 0.5
MAKE_OPTIONS = ("negative", "width", "height", "steps", "seed", "batch", "cfg")


async def make(ix: Interaction) -> None:
    options = ix.options()
    prompt = str(options.get("prompt") or "").strip()
    if not prompt:
        raise InvalidInput("What should I make? `/make prompt:a red fox in the snow`")
    app = ix.app
    user, group = await ix.user(), await ix.group()
    chosen: dict[str, Any] = {k: options[k] for k in MAKE_OPTIONS if options.get(k) is not None}
    chosen["prompt"] = prompt
    images: dict[str, str] = {}
    if options.get("image") is not None:
        item = ix.attachment(options["image"])
        if item is None:
            raise InvalidInput("the attached image is missing; attach it again")
        tool = "img2img"
        inputs = app.tools.get(tool).inputs
        chosen = {k: v for k, v in chosen.items() if k in inputs}
        images["image"] = await ingest(ix, user, item)
    else:
        tool = await app.make_image.default_tool(user, group)
    request = Request(tool, chosen, images)
    await submit(
        ix, user, group,
        lambda payer: app.make_image.quote(user, request, payer, group=group),
        lambda payer, reply: app.make_image.make(user, request, payer=payer, reply=reply,
                                                 group=group),
    )


async def upscale(ix: Interaction) -> None:
    await _on_attachment(ix, "upscale", int(ix.options().get("scale") or 2))


async def rmbg(ix: Interaction) -> None:
    await _on_attachment(ix, "rmbg", None)


async def _on_attachment(ix: Interaction, what: str, scale: int | None) -> None:
    item = ix.attachment(ix.options().get("image"))
    if item is None:
        raise InvalidInput(f"Attach the image to /{what}.")
    user, group = await ix.user(), await ix.group()
    media_id = await ingest(ix, user, item)
    await on_media(ix, what, media_id, user, group, scale=scale or 2)


async def on_media(ix: Interaction, what: str, media_id: str, user: Account,
                   group: Account | None, *, scale: int = 2) -> None:
    again = ix.app.again
    if what == "upscale":
        await submit(ix, user, group,
                     lambda p: again.quote_upscale(user, media_id, scale, payer=p, group=group),
                     lambda p, r: again.upscale(user, media_id, scale, payer=p, reply=r,
                                                group=group))
    elif what == "rmbg":
        await submit(ix, user, group,
                     lambda p: again.quote_remove_background(user, media_id, payer=p,
                                                             group=group),
                     lambda p, r: again.remove_background(user, media_id, payer=p, reply=r,
                                                          group=group))
    else:
        s = VARIATION_STRENGTH
        await submit(ix, user, group,
                     lambda p: again.quote_vary(user, media_id, s, payer=p, group=group),
                     lambda p, r: again.vary(user, media_id, s, payer=p, reply=r, group=group))


async def regenerate(ix: Interaction, job_id: str) -> None:
    again = ix.app.again
    user, group = await ix.user(), await ix.group()
    await submit(ix, user, group,
                 lambda p: again.quote_regenerate(user, job_id, payer=p, group=group),
                 lambda p, r: again.regenerate(user, job_id, payer=p, reply=r, group=group))
