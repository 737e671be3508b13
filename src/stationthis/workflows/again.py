"""Again: run an earlier job or image once more — regenerate (new seed), variations of one
output, the same job with a parameter changed, upscale or background removal of any output
or upload. Each has a ``quote_*`` twin that prices it without running anything.

Each is also a command (``workflows/commands.py``) whose planner is registered with
``MakeImage``, so chat platforms call ``make_image.offer(command)`` and ``start``; zoom out
and pan (outpaints of the image on a larger canvas: all round, or on one side) are
commands too, with ``zoom_out``/``pan`` and their quotes for the web, the API and the CLI.

Every path is planned (``again_plans.py``) into a ``MakeImage`` request (so prices,
limits, holds and queueing are exactly those of a new request) plus its lineage
(``parent_id``, ``origin``). Another user's job or image does not exist here: it is
``NotFound``, never ``Forbidden``.
"""

from __future__ import annotations

from typing import Any

from stationthis.core.jobs import Job, JobService
from stationthis.core.media import MediaService
from stationthis.core.replies import Reply
from stationthis.core.tools import ToolRegistry
from stationthis.core.users import Account
from stationthis.workflows.again_plans import RANDOM_SEED, AgainPlanner
from stationthis.workflows.commands import (
    PAN,
    ZOOM_OUT,
    Pan,
    Plan,
    Regenerate,
    RemoveBackground,
    Tweak,
    Upscale,
    Vary,
    ZoomOut,
)
from stationthis.workflows.inpaint import Inpainting
from stationthis.workflows.make_image import MakeImage, Quote

__all__ = ["RANDOM_SEED", "Again", "Plan"]


class Again(AgainPlanner):
    """Run or price a plan (``again_plans.AgainPlanner``: what each action becomes)."""

    def __init__(
        self, make_image: MakeImage, jobs: JobService, media: MediaService,
        tools: ToolRegistry, *, img2img: str = "img2img", upscaler: str = "upscale",
        rmbg: str = "rmbg", outpaint: str = "outpaint",
    ) -> None:
        super().__init__(jobs, media, tools, {"img2img": img2img, "upscale": upscaler,
                                              "rmbg": rmbg, "outpaint": outpaint})
        self.make_image = make_image
        # the commands a chat sends through ``make_image.offer``: one planner each
        make_image.plans(Regenerate, lambda c: self.plan_regenerate(c.requester.user, c.job_id))
        make_image.plans(Vary, lambda c: self.plan_vary(c.requester.user, c.media_id,
                                                        c.strength, c.prompt))
        make_image.plans(Tweak, lambda c: self.plan_tweak(c.requester.user, c.job_id,
                                                          dict(c.changes)))
        make_image.plans(Upscale, lambda c: self.plan_tool(c.requester.user, c.media_id,
                                                           "upscale", c.scale))
        make_image.plans(RemoveBackground,
                         lambda c: self.plan_tool(c.requester.user, c.media_id, "rmbg"))
        make_image.plans(ZoomOut, lambda c: self.plan_zoom_out(c.requester.user, c.media_id,
                                                               c.factor))
        make_image.plans(Pan, lambda c: self.plan_pan(c.requester.user, c.media_id,
                                                      c.direction, c.share))
        self.inpainting = Inpainting(make_image, jobs, media, tools)  # plans ``Inpaint``

    # ----- acting --------------------------------------------------------------------------
    # ``payer``, ``reply`` and ``group`` are passed on to ``MakeImage.make`` as given.

    async def regenerate(
        self, user: Account, job_id: str, *, payer: Account | None = None,
        reply: Reply | None = None, group: Account | None = None,
    ) -> Job:
        """The same tool, parameters and input images with a new random seed."""
        plan = await self.plan_regenerate(user, job_id)
        return await self._run(user, plan, payer, reply, group)

    async def vary(
        self, user: Account, media_id: str, strength: float = 0.5, *,
        prompt: str | None = None, payer: Account | None = None,
        reply: Reply | None = None, group: Account | None = None,
    ) -> Job:
        """An image-to-image variation of one chosen output (or of an upload, given a
        prompt), with a new random seed."""
        plan = await self.plan_vary(user, media_id, strength, prompt)
        return await self._run(user, plan, payer, reply, group)

    async def tweak(
        self, user: Account, job_id: str, /, *, payer: Account | None = None,
        reply: Reply | None = None, group: Account | None = None, **changes: Any,
    ) -> Job:
        """The same job with some parameters changed; the seed stays unless changed."""
        plan = await self.plan_tweak(user, job_id, changes)
        return await self._run(user, plan, payer, reply, group)

    async def upscale(
        self, user: Account, media_id: str, scale: int = 2, *, payer: Account | None = None,
        reply: Reply | None = None, group: Account | None = None,
    ) -> Job:
        """×2 or ×4 of any output or upload the user owns."""
        plan = await self.plan_tool(user, media_id, "upscale", scale)
        return await self._run(user, plan, payer, reply, group)

    async def remove_background(
        self, user: Account, media_id: str, *, payer: Account | None = None,
        reply: Reply | None = None, group: Account | None = None,
    ) -> Job:
        plan = await self.plan_tool(user, media_id, "rmbg")
        return await self._run(user, plan, payer, reply, group)

    async def zoom_out(
        self, user: Account, media_id: str, factor: float = ZOOM_OUT, *,
        payer: Account | None = None, reply: Reply | None = None,
        group: Account | None = None,
    ) -> Job:
        """The image centred on a canvas ``factor`` (×1.5, ×2…) times its size."""
        plan = await self.plan_zoom_out(user, media_id, factor)
        return await self._run(user, plan, payer, reply, group)

    async def pan(
        self, user: Account, media_id: str, direction: str, share: float = PAN, *,
        payer: Account | None = None, reply: Reply | None = None,
        group: Account | None = None,
    ) -> Job:
        """The image extended on one side (left, up, right, down)."""
        plan = await self.plan_pan(user, media_id, direction, share)
        return await self._run(user, plan, payer, reply, group)

    # ----- dry runs: the price each of the above would hold, running nothing ----------------

    async def quote_regenerate(
        self, user: Account, job_id: str, *, payer: Account | None = None,
        group: Account | None = None,
    ) -> Quote:
        return await self._quote(user, await self.plan_regenerate(user, job_id), payer, group)

    async def quote_vary(
        self, user: Account, media_id: str, strength: float = 0.5, *,
        prompt: str | None = None, payer: Account | None = None, group: Account | None = None,
    ) -> Quote:
        plan = await self.plan_vary(user, media_id, strength, prompt)
        return await self._quote(user, plan, payer, group)

    async def quote_tweak(
        self, user: Account, job_id: str, /, *, payer: Account | None = None,
        group: Account | None = None, **changes: Any,
    ) -> Quote:
        plan = await self.plan_tweak(user, job_id, changes)
        return await self._quote(user, plan, payer, group)

    async def quote_upscale(
        self, user: Account, media_id: str, scale: int = 2, *, payer: Account | None = None,
        group: Account | None = None,
    ) -> Quote:
        plan = await self.plan_tool(user, media_id, "upscale", scale)
        return await self._quote(user, plan, payer, group)

    async def quote_remove_background(
        self, user: Account, media_id: str, *, payer: Account | None = None,
        group: Account | None = None,
    ) -> Quote:
        return await self._quote(user, await self.plan_tool(user, media_id, "rmbg"), payer, group)

    async def quote_zoom_out(
        self, user: Account, media_id: str, factor: float = ZOOM_OUT, *,
        payer: Account | None = None, group: Account | None = None,
    ) -> Quote:
        plan = await self.plan_zoom_out(user, media_id, factor)
        return await self._quote(user, plan, payer, group)

    async def quote_pan(
        self, user: Account, media_id: str, direction: str, share: float = PAN, *,
        payer: Account | None = None, group: Account | None = None,
    ) -> Quote:
        plan = await self.plan_pan(user, media_id, direction, share)
        return await self._quote(user, plan, payer, group)

    # ----- internals -----------------------------------------------------------------------

    async def _quote(
        self, user: Account, plan: Plan, payer: Account | None, group: Account | None
    ) -> Quote:
        return await self.make_image.quote(user, plan.request, payer, group=group)

    async def _run(
        self, user: Account, plan: Plan, payer: Account | None,
        reply: Reply | None, group: Account | None,
    ) -> Job:
        return await self.make_image.make(
            user, plan.request, payer=payer, reply=reply, group=group,
            parent_id=plan.parent_id, origin=plan.origin,
        )
