"""Planning for ``Again`` (workflows/again.py): what an earlier job or image becomes when it
is run once more — the tool, its options and input images, and the lineage (``parent_id``,
``origin``) — as a ``Plan`` for ``MakeImage``. Nothing here prices or runs anything.

Regenerate keeps the job and picks a new seed; tweak changes named parameters; a variation
is image-to-image of one output (carrying the prompt of its job, or of the nearest ancestor
that had one); upscale and background removal run their tool on the image; zoom out and pan
outpaint it on a larger canvas. Another user's job or image does not exist here: it is
``NotFound``, never ``Forbidden``.
"""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.jobs import Job, JobService
from stationthis.core.media import MediaItem, MediaService
from stationthis.core.tools import Tool, ToolRegistry
from stationthis.core.users import Account
from stationthis.workflows.commands import PAN, PAN_DIRECTIONS, ZOOM_OUT, Plan
from stationthis.workflows.make_image import Request

RANDOM_SEED = -1
_LINEAGE_DEPTH = 8  # how far up ``parent_id`` a variation looks for a prompt
_NOT_CARRIED = {"seed", "width", "height", "strength", "batch"}  # chosen anew by a variation
_SIZED_BY_IMAGE = ("upscale", "rmbg", "outpaint", "inpaint")  # width/height follow from the input
_PAD_STEP = 8  # outpaint borders are multiples of this (the latent's cell)
__all__ = ["RANDOM_SEED", "AgainPlanner"]


class AgainPlanner:
    """The ``plan_*`` methods; ``Again`` adds running and pricing what they plan."""

    def __init__(self, jobs: JobService, media: MediaService, tools: ToolRegistry,
                 names: dict[str, str]) -> None:
        self.jobs = jobs
        self.media = media
        self.tools = tools
        self._names = names  # role (img2img, upscale, rmbg, outpaint) -> preferred tool

    # ----- the plans -----------------------------------------------------------------------

    async def plan_regenerate(self, user: Account, job_id: str) -> Plan:
        parent = await self.jobs.get_owned(job_id, user.id)
        tool = self.tools.get(parent.tool)
        options = _carry(parent.params, tool)
        if "seed" in tool.inputs:
            options["seed"] = RANDOM_SEED
        return Plan(Request(tool.name, options, dict(parent.inputs)), parent.id, "regenerate")

    async def plan_tweak(self, user: Account, job_id: str, changes: dict[str, Any]) -> Plan:
        if not changes:
            raise InvalidInput("nothing to change: name at least one option and its new value")
        parent = await self.jobs.get_owned(job_id, user.id)
        tool = self.tools.get(parent.tool)
        options = _carry(parent.params, tool)
        images = dict(parent.inputs)
        for name, value in changes.items():
            if name in ("width", "height") and tool.category in _SIZED_BY_IMAGE:
                raise InvalidInput(f"the size of a {tool.category} job is that of its image",
                                   input=name)
            spec = tool.inputs.get(name)
            if spec is not None and spec.type == "image":
                images[name] = str(value)
            else:
                options[name] = value  # unknown names are refused by the tool, by name
        if images != parent.inputs:
            # a new input image brings its own size unless the size was changed too
            for key in ("width", "height"):
                if key not in changes:
                    options.pop(key, None)
        return Plan(Request(tool.name, options, images), parent.id, "tweak")

    async def plan_vary(
        self, user: Account, media_id: str, strength: float, prompt: str | None
    ) -> Plan:
        item = await self._image(user, media_id)
        parent = await self._job_of(user, item)
        same = self._img2img_tool_of(parent)
        tool = same or self._tool("img2img")
        image_input = _image_input(tool)
        source = parent if same else await self._with_prompt(user, parent)
        options = {
            k: v for k, v in _carry(source.params if source else {}, tool).items()
            if k not in _NOT_CARRIED
        }
        if prompt is not None:
            options["prompt"] = prompt
        if not str(options.get("prompt") or "").strip() and tool.needs_prompt:
            raise InvalidInput(
                "this image has no prompt to vary from: give one", input="prompt"
            )
        options.update(_fit(tool, item), strength=strength)
        if "seed" in tool.inputs:
            options["seed"] = RANDOM_SEED
        images = dict(parent.inputs) if same and parent else {}
        images[image_input] = item.id
        return Plan(Request(tool.name, options, images), parent.id if parent else None,
                    "variation")

    async def plan_tool(
        self, user: Account, media_id: str, role: str, scale: int | None = None
    ) -> Plan:
        """Upscale (``role="upscale"``) or background removal of an output or upload."""
        item = await self._image(user, media_id)
        parent = await self._job_of(user, item)
        tool = self._tool(role)
        options: dict[str, Any] = {} if scale is None else {"scale": scale}
        request = Request(tool.name, options, {_image_input(tool): item.id})
        return Plan(request, parent.id if parent else None, role)

    async def plan_zoom_out(self, user: Account, media_id: str, factor: float = ZOOM_OUT
                            ) -> Plan:
        """The image centred on a canvas ``factor`` times its size (each border a multiple
        of 8 pixels), the border filled by the outpaint tool from the image's prompt."""
        if not 1.0 < factor <= 4.0:
            raise InvalidInput(f"zoom out by more than 1 and at most 4 (got {factor})")
        item, width, height = await self._sized_image(user, media_id, "zoom out from")
        pad_x, pad_y = (_pad(side * (factor - 1) / 2) for side in (width, height))
        return await self._outpaint(user, item, (pad_x, pad_y, pad_x, pad_y), "zoom_out")

    async def plan_pan(self, user: Account, media_id: str, direction: str, share: float = PAN
                       ) -> Plan:
        """The image extended on one side by ``share`` of its size there (a multiple of 8
        pixels), the new part filled by the outpaint tool from the image's prompt."""
        if direction not in PAN_DIRECTIONS:
            raise InvalidInput(f"pan left, up, right or down (got {direction!r})",
                               input="direction")
        if not 0.0 < share <= 2.0:
            raise InvalidInput(f"pan by more than 0 and at most 2 times the image (got {share})")
        item, width, height = await self._sized_image(user, media_id, "pan from")
        grow = _pad((width if direction in ("left", "right") else height) * share)
        side = PAN_DIRECTIONS.index(direction)  # left, up (top), right, down (bottom)
        left, top, right, bottom = (grow if i == side else 0 for i in range(4))
        return await self._outpaint(user, item, (left, top, right, bottom), f"pan_{direction}")

    async def _sized_image(self, user: Account, media_id: str, what: str
                           ) -> tuple[MediaItem, int, int]:
        item = await self._image(user, media_id)
        if not item.width or not item.height:
            raise InvalidInput(f"that image has no known size to {what}")
        return item, item.width, item.height

    async def _outpaint(self, user: Account, item: MediaItem,
                        border: tuple[int, int, int, int], origin: str) -> Plan:
        """The outpaint tool on ``item`` with ``border`` (left, top, right, bottom) added,
        carrying the prompt of the image's job (or its nearest ancestor with one)."""
        parent = await self._job_of(user, item)
        tool = self._tool("outpaint")
        left, top, right, bottom = border
        source = await self._with_prompt(user, parent)
        carried = {k: v for k, v in (source.params if source else {}).items()
                   if k in ("prompt", "negative")}
        options: dict[str, Any] = {
            **carried, "left": left, "right": right, "top": top, "bottom": bottom,
            "width": (item.width or 0) + left + right,
            "height": (item.height or 0) + top + bottom,
        }
        if "seed" in tool.inputs:
            options["seed"] = RANDOM_SEED
        options = {k: v for k, v in options.items() if k in tool.inputs}
        request = Request(tool.name, options, {_image_input(tool): item.id})
        return Plan(request, parent.id if parent else None, origin)

    # ----- finding the image, its job and the tool ---------------------------------------

    async def _image(self, user: Account, media_id: str) -> MediaItem:
        item = await self.media.get(media_id, owner_id=user.id)
        if not item.is_image:
            raise InvalidInput("that is not an image")
        return item

    async def _job_of(self, user: Account, item: MediaItem) -> Job | None:
        if item.job_id is None:
            return None  # an upload
        try:
            return await self.jobs.get_owned(item.job_id, user.id)
        except NotFound:
            return None

    async def _with_prompt(self, user: Account, job: Job | None) -> Job | None:
        """The job itself or its nearest ancestor that had a prompt (an upscale has none)."""
        for _ in range(_LINEAGE_DEPTH):
            if job is None or str(job.params.get("prompt") or "").strip():
                return job
            if job.parent_id is None:
                return None
            try:
                job = await self.jobs.get_owned(job.parent_id, user.id)
            except NotFound:
                return None
        return None

    def _img2img_tool_of(self, job: Job | None) -> Tool | None:
        if job is None:
            return None
        try:
            tool = self.tools.get(job.tool)
        except NotFound:
            return None
        return tool if tool.category == "img2img" and "prompt" in tool.inputs else None

    def _tool(self, role: str) -> Tool:
        try:
            return self.tools.get(self._names[role])
        except NotFound:
            found = self.tools.by_category(role)
            if not found:
                raise NotFound(f"this instance has no {role} tool") from None
            return found[0]


def _carry(params: dict[str, Any], tool: Tool) -> dict[str, Any]:
    """The parameters of an earlier job that the tool still takes (derived ``_…`` keys and
    inputs a newer version of the tool dropped are left out). A LoRA keeps its strength:
    the job recorded it apart (``lora_scales``: name → strength, from ``<lora:ink:0.8>`` or
    ``ink:0.8``), so it goes back on the name (``ink:0.8``), as a request writes it."""
    out = {k: v for k, v in params.items() if not k.startswith("_") and k in tool.inputs}
    scales, names = params.get("lora_scales"), out.get("loras")
    if isinstance(scales, dict) and scales and isinstance(names, list):
        out["loras"] = [f"{n}:{scales[n]:g}" if isinstance(n, str) and n in scales
                        and isinstance(scales[n], int | float) else n for n in names]
    return out


def _image_input(tool: Tool) -> str:
    for name, spec in tool.inputs.items():
        if spec.type == "image":
            return name
    raise InvalidInput(f"the tool {tool.name} takes no image")


def _pad(pixels: float) -> int:
    """A border of about ``pixels``, a multiple of 8 and at least 8."""
    return max(_PAD_STEP, round(pixels / _PAD_STEP) * _PAD_STEP)


def _fit(tool: Tool, item: MediaItem) -> dict[str, int]:
    """The image's size, scaled down (multiples of 8) to fit the tool's size limits."""
    w_spec, h_spec = tool.inputs.get("width"), tool.inputs.get("height")
    if w_spec is None or h_spec is None or not item.width or not item.height:
        return {}
    limit = min(w_spec.max or float("inf"), h_spec.max or float("inf"))
    if max(item.width, item.height) <= limit:
        return {"width": item.width, "height": item.height}
    factor = limit / max(item.width, item.height)
    low = int(max(w_spec.min or 8, h_spec.min or 8))
    return {
        "width": max(low, int(item.width * factor) // 8 * 8),
        "height": max(low, int(item.height * factor) // 8 * 8),
    }
