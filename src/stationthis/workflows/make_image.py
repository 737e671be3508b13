"""Make image: run any generation tool for a user — quote first, hold, queue, deliver.

Platforms hand a command (``workflows/commands.py``) to ``offer``, which plans, prepares and
prices it once and decides who pays, and then ``start`` the offer. ``quote`` and ``make``
(a request and an explicit payer) remain for the web API and the CLI; all return plain
objects and never format platform text. Before anything is priced or held, both refuse banned
users, fill each input in the order explicit option → the user's settings → the group's
defaults → the tool default (parameters written in the prompt, ``--ar 16:9 --seed 5``, win:
``prompt_params``), enforce the tier limits and apply the prompt filter.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from stationthis.core import masks
from stationthis.core.errors import Forbidden, InsufficientPoints, InvalidInput
from stationthis.core.jobs import Job, JobService, NewJob
from stationthis.core.masks import MASK_INPUT
from stationthis.core.media import MediaService
from stationthis.core.models import ModelRegistry
from stationthis.core.moderation import PromptFilter
from stationthis.core.points import Ledger
from stationthis.core.preferences import Preferences
from stationthis.core.queue import JobQueue
from stationthis.core.replies import Reply
from stationthis.core.tools import Tool, ToolRegistry
from stationthis.core.users import Account, Users
from stationthis.workflows.commands import Command, Make, Offer, Plan, Requester
from stationthis.workflows.groups import Groups
from stationthis.workflows.limits import SIZE_KEYS, TierPolicy
from stationthis.workflows.prompt_params import apply as apply_inline
from stationthis.workflows.prompt_params import take as take_inline
from stationthis.workflows.server_loras import ServerLoras
from stationthis.workflows.settings import PARAM_KEYS, layers, preferred_tool
from stationthis.workflows.styles import STYLE_KEY, Styles, apply_style
from stationthis.workflows.using_loras import apply_loras


@dataclass(frozen=True)
class Alternative:
    """A cheaper variant of a request that the balance covers."""

    description: str
    options: dict[str, Any]
    points: int


@dataclass(frozen=True)
class Quote:
    tool: str
    params: dict[str, Any]
    points: int
    available: int
    alternatives: list[Alternative] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.points <= self.available


@dataclass(frozen=True)
class Request:
    tool: str
    options: dict[str, Any] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # input name -> media id


Planner = Callable[[Any], Awaitable[Plan]]


class MakeImage:
    def __init__(
        self, tools: ToolRegistry, jobs: JobService, ledger: Ledger, media: MediaService,
        queue: JobQueue, engine_name: str, *, preferences: Preferences | None = None,
        tiers: TierPolicy | None = None, prompt_filter: PromptFilter | None = None,
        users: Users | None = None, models: ModelRegistry | None = None,
        groups: Groups | None = None, server_loras: ServerLoras | None = None,
        styles: Styles | None = None,
    ) -> None:
        self.tools = tools
        self.jobs = jobs
        self.ledger = ledger
        self.media = media
        self.queue = queue
        self.engine_name = engine_name
        self.preferences = preferences  # None: no settings layers
        self.tiers = tiers or TierPolicy({})  # the default free tier
        self.prompt_filter = prompt_filter or PromptFilter()
        self.users = users  # to read bans and tiers as they are now, not as the caller saw them
        self.models = models  # the users' trained models, applied by name or trigger word
        self.server_loras = server_loras  # the servers' LoRAs, used the same way
        self.styles = styles  # saved styles (--style) and wildcard lists (__colours__)
        # who pays for a request made in a group (its policy); none: the requester
        self.groups = groups or (Groups(preferences, ledger) if preferences else None)
        self.planners: dict[type[Any], Planner] = {Make: self._plan_make}

    def plans(self, kind: type[Any], planner: Planner) -> None:
        """Register how a command kind becomes a ``Plan`` (``Again`` registers its own)."""
        self.planners[kind] = planner

    async def offer(self, command: Command) -> Offer:
        """Plan, prepare (once) and price a command for whoever pays for it: the requester,
        or their group by its policy. Nothing is held: ``start`` does that."""
        planner = self.planners.get(type(command))
        if planner is None:
            raise InvalidInput(f"this instance cannot {type(command).__name__.lower()}")
        return await self._offer(command.requester, await planner(command))

    async def start(self, offer: Offer, *, reply: Reply | None = None) -> Job:
        """Hold the offer's points from its payer and queue the job. ``reply`` (else the
        requester's) is where the job reports."""
        who = offer.requester
        new = NewJob(
            owner_id=who.user.id, payer_id=offer.payer.id, tool=offer.tool.name,
            category=offer.tool.category, params=offer.params, quote=offer.quote.points,
            engine=self.engine_name, inputs=offer.inputs,
            reply=reply if reply is not None else who.reply,
            tool_version=offer.tool.version, group_id=who.group.id if who.group else None,
            parent_id=offer.plan.parent_id, origin=offer.plan.origin,
        )
        try:
            return await self.queue.add(lambda lease: self.jobs.create(replace(new, lease=lease)))
        except InsufficientPoints as exc:
            available = int(exc.details.get("available", 0))
            cheaper = self._cheaper(offer.tool, offer.params, available)
            raise InsufficientPoints(exc.message, **exc.details, alternatives=cheaper) from None

    async def _offer(
        self, who: Requester, plan: Plan, payer: Account | None = None, *,
        read_balance: bool = True,
    ) -> Offer:
        """``read_balance`` False: an offer started at once (``make``), whose hold decides
        whether it fits and says by how much it does not; its quote's ``available`` is then
        not read (it says the price fits, which the hold checks)."""
        tool, params, inputs = await self._prepare(who.user, plan.request, who.group)
        points = tool.price(params)
        if payer is None:
            payer = (who.user if self.groups is None
                     else await self.groups.payer(who.user, who.group, points))
        available = (await self.ledger.balance(payer.id)).total if read_balance else points
        alternatives = [] if points <= available else self._cheaper(tool, params, available)
        quote = Quote(tool.name, params, points, available, alternatives)
        return Offer(who, plan, quote, payer, tool, params, inputs)

    async def _plan_make(self, command: Make) -> Plan:
        who = command.requester
        tool = command.tool or await self.default_tool(who.user, who.group)
        return Plan(Request(tool, dict(command.options), dict(command.images)))

    async def default_tool(self, user: Account, group: Account | None = None) -> str:
        """The txt2img tool to use when the platform asks for "the" default one: the user's
        preference, else the group's, else ``make``."""
        if self.preferences is None:
            return preferred_tool(self.tools).name
        mine, theirs = await layers(self.preferences, user, group)
        return preferred_tool(self.tools, mine, theirs).name

    async def quote(
        self, user: Account, request: Request, payer: Account | None = None, *,
        group: Account | None = None,
    ) -> Quote:
        """The price of a request for ``payer`` (default: the user), without running it,
        and what fits when it is too dear."""
        offer = await self._offer(Requester(user, group), Plan(request), payer or user)
        return offer.quote

    async def make(
        self, user: Account, request: Request, *, payer: Account | None = None,
        reply: Reply | None = None, group: Account | None = None,
        parent_id: str | None = None, origin: str | None = None,
    ) -> Job:
        """Start a job paid by ``payer`` (default: the user). ``group`` is the chat/guild the
        request came from; ``parent_id`` and ``origin`` record a regenerate / variation /
        tweak of an earlier job."""
        plan = Plan(request, parent_id, origin)
        return await self.start(await self._offer(Requester(user, group, reply), plan,
                                                  payer or user, read_balance=False))

    async def _prepare(
        self, user: Account, request: Request, group: Account | None = None
    ) -> tuple[Tool, dict[str, Any], dict[str, str]]:
        if self.users is not None:
            user = await self.users.get(user.id)
            group = await self.users.get(group.id) if group is not None else None
        if user.banned:
            raise Forbidden("This account is blocked from generating images.")
        tool = self.tools.get(request.tool)
        options = dict(request.options)
        style_name = options.pop("style", None)  # the studio's select; --style wins
        inline = take_inline(options)  # `--ar 16:9 --seed 5 …` written in the prompt
        style_name = (inline.style if inline is not None and inline.style else style_name)
        styled: set[str] = set()
        style = None
        if style_name:
            if self.styles is None:
                raise InvalidInput("styles are not available here", input="style")
            style = await self.styles.find(user, group, str(style_name))
            options, inline, styled = apply_style(style, tool, options, inline)
        inputs: dict[str, str] = {}
        for name, spec in tool.inputs.items():
            if spec.type != "image":
                continue
            media_id = request.images.get(name) or options.pop(name, None)
            if not media_id:
                if spec.required:
                    what = "a mask" if name == MASK_INPUT else "an input image"
                    raise InvalidInput(f"{tool.name} needs {what}", input=name)
                continue
            item = await self.media.get(str(media_id), owner_id=user.id)
            if not item.is_image:
                raise InvalidInput(f"{name} must be an image", input=name)
            inputs[name] = item.id
            # The input image decides the size where the tool takes its size from it (and
            # for upscale / background removal, where the size sets the price, always).
            for key, value in (("width", item.width), ("height", item.height)):
                if key not in tool.inputs:
                    continue  # a tool may have no size inputs at all
                if tool.category in ("upscale", "rmbg", "inpaint"):
                    options[key] = value
                else:
                    options.setdefault(key, value)
        if tool.category == "inpaint" and MASK_INPUT in inputs and len(inputs) > 1:
            await masks.check_inputs(self.media, inputs)  # its size, not empty: free
        options = {k: v for k, v in options.items() if k in tool.inputs or v is not None}
        mine, theirs = await self._settings(user, group)
        params = tool.resolve(options, mine, theirs)
        limits = self.tiers.limits(user, group)
        if inline is not None:
            side = min(limits.bound(k, tool.inputs.get(k)).high or math.inf for k in SIZE_KEYS)
            params = apply_inline(tool, params, inline, max_side=side,
                                  max_pixels=limits.max_pixels)
        if self.styles is not None:  # {fox|wolf} and __colours__, drawn from the seed
            params = await self.styles.draw(user, group, tool, params)
        for name in ("prompt", "negative"):
            self.prompt_filter.check(params.get(name), field=name)
        explicit = {k for k, v in options.items() if v not in (None, "")} - styled
        params = limits.enforce(tool, params, explicit)
        if style is not None:
            params[STYLE_KEY] = style.name
        return tool, await self._with_models(user, tool, params), inputs

    async def _with_models(
        self, user: Account, tool: Tool, params: dict[str, Any]
    ) -> dict[str, Any]:
        """The LoRAs of a request (workflows/server_loras.py): named in ``loras`` or a
        ``<lora:name:strength>`` tag, or called by a trigger word in the prompt; the user's
        own models first, then the servers'. Own models' files travel with the job as assets
        (``_assets``: name → media id); server LoRAs by file (``server_loras``: name → file)
        and their price factors multiply the price (``_price_factor``)."""
        if "loras" not in tool.inputs or (self.models is None and self.server_loras is None):
            return params
        return await apply_loras(user, params, models=self.models,
                                 server_loras=self.server_loras, engine_name=self.engine_name)

    async def _settings(
        self, user: Account, group: Account | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The user's settings and the group's defaults that fill tool inputs."""
        if self.preferences is None:
            return {}, {}
        mine, theirs = await layers(self.preferences, user, group)
        return ({k: v for k, v in mine.items() if k in PARAM_KEYS},
                {k: v for k, v in theirs.items() if k in PARAM_KEYS})

    def _cheaper(self, tool: Tool, params: dict[str, Any], available: int) -> list[Alternative]:
        """Variants that fit the balance: fewer images, a smaller size, fewer steps."""
        candidates: list[tuple[str, dict[str, Any]]] = []
        batch = int(params.get("batch") or 1)
        for n in range(batch - 1, 0, -1):
            candidates.append((f"{n} image{'s' if n > 1 else ''} instead of {batch}", {"batch": n}))
        width, height = int(params.get("width") or 0), int(params.get("height") or 0)
        if tool.category not in ("upscale", "rmbg", "outpaint", "inpaint"):  # the image's size
            while width > 512 or height > 512:
                width, height = max(512, width // 2 // 8 * 8), max(512, height // 2 // 8 * 8)
                candidates.append((f"{width}×{height} pixels", {"width": width, "height": height}))
        if "steps" in params:
            for steps in (30, 20, 10):
                if steps < int(params["steps"]):
                    candidates.append((f"{steps} steps", {"steps": steps}))
        if tool.category == "upscale" and int(params.get("scale") or 2) > 2:
            candidates.append(("×2 instead of ×4", {"scale": 2}))
        found: list[Alternative] = []
        for description, change in candidates:
            price = tool.price({**params, **change})
            if price <= available:
                found.append(Alternative(description, change, price))
        found.sort(key=lambda a: -a.points)
        return found[:3]
