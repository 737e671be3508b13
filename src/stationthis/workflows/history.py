"""History: every job with its parameters, seed, tool and version, outputs, cost and timings;
"show my last N", "get seed", and a reproducibility card for each output that is enough to
run it again — exactly, with the same seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from stationthis.core.errors import Conflict, InvalidInput, NotFound
from stationthis.core.jobs import Job, JobService
from stationthis.core.media import MediaService
from stationthis.core.replies import Reply
from stationthis.core.tools import ToolRegistry
from stationthis.core.users import Account
from stationthis.workflows.make_image import MakeImage, Quote, Request

MAX_RECENT = 100
CARD_FORMAT = 1


@dataclass(frozen=True)
class HistoryEntry:
    job_id: str
    tool: str
    tool_version: str | None
    category: str
    engine: str
    params: dict[str, Any]  # as run, with the concrete seed
    inputs: dict[str, str]  # input name -> media id
    state: str
    outputs: list[str]  # media ids
    quote: int
    cost: int | None  # None until the job succeeded
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    parent_id: str | None
    origin: str | None

    @property
    def seed(self) -> int | None:
        seed = self.params.get("seed")
        return int(seed) if seed is not None else None

    @property
    def duration(self) -> float | None:
        """Run time in seconds (started → finished)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def waited(self) -> float | None:
        """Seconds in the queue before it started."""
        return None if self.started_at is None else (
            self.started_at - self.created_at).total_seconds()


@dataclass(frozen=True)
class ReproCard:
    """Everything needed to make one output again: tool and version, engine, the parameters
    with the concrete seed, and the input images. The output is ``output_index`` of the run
    (a batch is re-run whole: engines need not reproduce one image of a batch alone)."""

    tool: str
    tool_version: str | None
    engine: str
    params: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    job_id: str | None = None
    output_index: int = 0
    media_id: str | None = None
    output_seed: int | None = None  # the seed of this very image, when the engine says

    def to_json(self) -> str:
        return json.dumps({"stationthis_card": CARD_FORMAT, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReproCard:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.pop("stationthis_card", None) != CARD_FORMAT:
                raise ValueError("not a StationThis card")
            if not isinstance(data.get("params"), dict) or not isinstance(
                data.get("inputs", {}), dict
            ):
                raise ValueError("params and inputs must be objects")
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"not a reproducibility card: {exc}") from None

    def to_text(self) -> str:
        version = f" (version {self.tool_version})" if self.tool_version else ""
        lines = [
            "StationThis reproducibility card",
            f"tool:   {self.tool}{version} on the {self.engine} engine",
            f"job:    {self.job_id or '-'} · output {self.output_index + 1}"
            + (f" · image {self.media_id}" if self.media_id else ""),
            f"seed:   {self.params.get('seed', '-')}"
            + (f" (this image: {self.output_seed})"
               if self.output_seed not in (None, self.params.get("seed")) else ""),
        ]
        if self.params.get("_style"):
            lines.append(f"style:  {self.params['_style']}")
        drawn = self.params.get("_wildcards") or []
        if drawn:  # the wildcards drawn for it (workflows/styles.py): already in the prompt
            lines.append("drawn:  " + "; ".join(f"{d.get('source')} → {d.get('value')}"
                                                for d in drawn if isinstance(d, dict)))
        lines += [f"  {k} = {json.dumps(v)}" for k, v in sorted(self.params.items())
                  if k not in ("seed", "_style", "_wildcards")]
        lines += [f"  input {k} = image {v}" for k, v in sorted(self.inputs.items())]
        return "\n".join(lines)


class History:
    def __init__(
        self, jobs: JobService, media: MediaService, tools: ToolRegistry, make_image: MakeImage
    ) -> None:
        self.jobs = jobs
        self.media = media
        self.tools = tools
        self.make_image = make_image

    async def recent(
        self, user: Account, n: int = 10, tool: str | None = None
    ) -> list[HistoryEntry]:
        """The user's last ``n`` jobs (at most 100), newest first."""
        if not 1 <= n <= MAX_RECENT:
            raise InvalidInput(f"ask for between 1 and {MAX_RECENT} jobs (got {n})")
        return [_entry(job) for job in await self.jobs.recent(user.id, limit=n, tool=tool)]

    async def entry(self, user: Account, job_id: str) -> HistoryEntry:
        return _entry(await self.jobs.get_owned(job_id, user.id))

    async def get_seed(self, user: Account, job_or_media_id: str) -> int:
        """The seed of a job, or of one image (in a batch each image has its own)."""
        try:
            job = await self.jobs.get_owned(job_or_media_id, user.id)
            own_seed = None
        except NotFound:
            card = await self.card(user, job_or_media_id, what="seed")
            job = await self.jobs.get_owned(str(card.job_id), user.id)
            own_seed = card.output_seed
        if "seed" not in job.params:
            raise InvalidInput(f"{job.tool} jobs have no seed")
        return int(own_seed if own_seed is not None else job.params["seed"])

    async def card(self, user: Account, media_id: str, *, what: str = "card") -> ReproCard:
        """The reproducibility card of one output the user owns."""
        try:
            item = await self.media.get(media_id, owner_id=user.id)
        except NotFound:
            raise NotFound("no such job or image") from None
        job = None
        if item.job_id is not None:
            try:
                job = await self.jobs.get_owned(item.job_id, user.id)
            except NotFound:
                job = None
        if job is None:
            raise InvalidInput(f"an uploaded image has no {what}: it was not made here")
        index = job.outputs.index(item.id) if item.id in job.outputs else 0
        seed = item.meta.get("seed")
        return ReproCard(
            tool=job.tool, tool_version=job.tool_version, engine=job.engine,
            params=dict(job.params), inputs=dict(job.inputs), job_id=job.id,
            output_index=index, media_id=item.id,
            output_seed=int(seed) if isinstance(seed, int) else None,
        )

    async def quote_rerun(
        self, user: Account, card: ReproCard, *, force: bool = False,
        payer: Account | None = None, group: Account | None = None,
    ) -> Quote:
        return await self.make_image.quote(user, self._request(card, force), payer, group=group)

    async def rerun(
        self, user: Account, card: ReproCard, *, force: bool = False,
        payer: Account | None = None, reply: Reply | None = None,
        group: Account | None = None,
    ) -> Job:
        """Run a card again exactly (same seed). Refused with ``Conflict`` when the tool has
        changed since or another engine runs here, unless ``force``."""
        request = self._request(card, force)
        parent_id = None
        if card.job_id is not None:
            try:
                parent_id = (await self.jobs.get_owned(card.job_id, user.id)).id
            except NotFound:
                parent_id = None  # someone else's card: no lineage to show
        return await self.make_image.make(
            user, request, payer=payer, reply=reply, group=group, parent_id=parent_id,
            origin="rerun",
        )

    def _request(self, card: ReproCard, force: bool) -> Request:
        tool = self.tools.get(card.tool)
        changed = []
        if card.tool_version and tool.version != card.tool_version:
            changed.append(f"the tool {tool.name} changed (version {card.tool_version} → "
                           f"{tool.version})")
        if card.engine != self.make_image.engine_name:
            changed.append(f"it ran on the {card.engine} engine, this is "
                           f"{self.make_image.engine_name}")
        if changed and not force:
            raise Conflict("; ".join(changed) + ": the result may differ (force to run anyway)")
        options = {
            k: v for k, v in card.params.items()
            if not k.startswith("_") and (k in tool.inputs or not force)
        }
        return Request(card.tool, options, dict(card.inputs))


def _entry(job: Job) -> HistoryEntry:
    return HistoryEntry(
        job_id=job.id, tool=job.tool, tool_version=job.tool_version, category=job.category,
        engine=job.engine, params=dict(job.params), inputs=dict(job.inputs), state=job.state,
        outputs=list(job.outputs), quote=job.quote, cost=job.cost, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, error=job.error,
        parent_id=job.parent_id, origin=job.origin,
    )
