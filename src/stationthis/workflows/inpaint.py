"""Inpaint ("vary region"): repaint the part of an image a mask marks, from a prompt.

``Inpaint(requester, media_id, mask, prompt)`` is planned here into a request for the
instance's inpaint tool (``builtin_tools/inpaint.json``): the image and the mask as its two
image inputs, the size the image's own (it sets the price), a new random seed. The mask's
checks (its size, that it marks something) run in ``MakeImage`` for every inpaint request,
this one or one sent to the jobs API, before anything is held: a bad mask costs nothing.
"""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.jobs import JobService
from stationthis.core.masks import MASK_INPUT
from stationthis.core.media import MediaService
from stationthis.core.tools import Tool, ToolRegistry
from stationthis.core.users import Account
from stationthis.workflows.commands import Inpaint, Plan
from stationthis.workflows.make_image import MakeImage, Request

CATEGORY = "inpaint"
ORIGIN = "inpaint"
RANDOM_SEED = -1
NEEDS_PROMPT = "say what the painted region should show, e.g. “a red scarf”"


class Inpainting:
    """Plans ``Inpaint`` commands (registered with ``MakeImage`` on creation)."""

    def __init__(self, make_image: MakeImage, jobs: JobService, media: MediaService,
                 tools: ToolRegistry, *, tool: str = "inpaint") -> None:
        self.jobs = jobs
        self.media = media
        self.tools = tools
        self.tool_name = tool
        make_image.plans(Inpaint, self.plan)

    def tool(self) -> Tool:
        """The inpaint tool: the one named ``inpaint``, else the first of its category."""
        try:
            return self.tools.get(self.tool_name)
        except NotFound:
            found = self.tools.by_category(CATEGORY)
            if not found:
                raise NotFound("this instance has no inpaint tool") from None
            return found[0]

    async def plan(self, command: Inpaint) -> Plan:
        user = command.requester.user
        prompt = command.prompt.strip()
        if not prompt:
            raise InvalidInput(NEEDS_PROMPT, input="prompt")
        image = await self._image(user, command.media_id, "image")
        mask = await self._image(user, command.mask, MASK_INPUT)
        tool = self.tool()
        options: dict[str, Any] = {k: v for k, v in command.options.items()
                                   if k not in ("image", MASK_INPUT, "width", "height")}
        options["prompt"] = prompt
        if "seed" in tool.inputs:
            options.setdefault("seed", RANDOM_SEED)
        images = {_image_input(tool): image, MASK_INPUT: mask}
        parent = await self._job_of(user, image)
        return Plan(Request(tool.name, options, images), parent, ORIGIN)

    async def _image(self, user: Account, media_id: str, what: str) -> str:
        item = await self.media.get(media_id, owner_id=user.id)
        if not item.is_image:
            raise InvalidInput(f"the {what} is not an image", input=what)
        return item.id

    async def _job_of(self, user: Account, media_id: str) -> str | None:
        """The job that made the image (None: an upload, or not the user's)."""
        item = await self.media.get(media_id, owner_id=user.id)
        if item.job_id is None:
            return None
        try:
            return (await self.jobs.get_owned(item.job_id, user.id)).id
        except NotFound:
            return None


def _image_input(tool: Tool) -> str:
    """The tool's image input that is not the mask."""
    for name, spec in tool.inputs.items():
        if spec.type == "image" and name != MASK_INPUT:
            return name
    raise InvalidInput(f"the tool {tool.name} takes no image")
