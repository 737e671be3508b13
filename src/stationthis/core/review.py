"""The output check: a classifier runs on every output before delivery; flagged outputs are
held for review.

    … → uploading → held ─(an admin releases)→ succeeded   (charged now, delivered now)
                         └(an admin rejects)──→ failed      (the hold released: nothing charged)

The runner calls ``OutputCheck.screen`` once the outputs are stored and before
``jobs.succeed``: when the classifier flags one, the job moves to ``held`` (not active: no
worker claims or renews it), its outputs are kept on the moderation event (not on the job,
so the user's history and gallery do not show them), the points stay held, and the user is
told (a ``JobProgressed`` with state ``held`` and the message "your image is being
reviewed"). A check that fails (the classifier's backend is down) holds the job too:
nothing unchecked is delivered.

The classifier is a tool file (``STATIONTHIS_OUTPUT_CHECK_TOOL``): JSON with a ``graph`` (a
ComfyUI classifier graph), ``inputs.image`` (where the image goes: ``{"node", "field"}``)
and optional ``params``; or ``builtin``: no graph, for the preview engine's deterministic
``classify`` procedure (engines/preview/classify.py). It runs with category ``classify``.
An output is flagged when an artifact of the check says so: ``meta["flagged"]`` true, a
JSON body with ``"flagged": true``, or a text body starting with ``flagged``, ``nsfw`` or
``unsafe``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, utcnow
from stationthis.core.engine import Artifact, Engine, ImageInput, JobSpec
from stationthis.core.errors import Conflict, EngineFailed, InvalidInput, NotFound
from stationthis.core.events import (
    EventBus,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobSucceeded,
    OutboxRelay,
    PointsCaptured,
    add_to_outbox,
)
from stationthis.core.jobs import Job, job_from_row
from stationthis.core.media import MediaService
from stationthis.core.points import Ledger
from stationthis.core.schema import jobs, moderation_events

log = logging.getLogger(__name__)
HELD = "held"
REVIEW_MESSAGE = "your image is being reviewed"
_FLAG_WORDS = ("flagged", "nsfw", "unsafe")


@dataclass(frozen=True)
class CheckTool:
    name: str
    graph: dict[str, Any] | None = None
    image: tuple[str, str] | None = None  # (node, field) the image fills
    params: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def load(setting: str) -> CheckTool:
        """``builtin`` or the path of a tool file; ``InvalidInput`` naming what is wrong."""
        if setting.strip().lower() == "builtin":
            return CheckTool("builtin")
        path = Path(setting).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"output check tool {setting}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("graph"), dict):
            raise InvalidInput(f"output check tool {setting}: needs a \"graph\" object")
        image = (data.get("inputs") or {}).get("image") or {}
        where = (str(image["node"]), str(image["field"])) if "node" in image else None
        return CheckTool(str(data.get("name") or path.stem), data["graph"], where,
                         dict(data.get("params") or {}))


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    rule: str = ""
    note: str = ""


class OutputCheck:
    def __init__(self, db: Database, engine: Engine, media: MediaService, ledger: Ledger,
                 bus: EventBus, relay: OutboxRelay, tool: CheckTool | None) -> None:
        self.db = db
        self.engine = engine
        self.media = media
        self.ledger = ledger
        self.bus = bus
        self.relay = relay
        self.tool = tool

    @property
    def enabled(self) -> bool:
        return self.tool is not None

    # ----- the check ---------------------------------------------------------------------

    async def screen(self, job: Job, outputs: list[str], *, worker: str | None = None) -> bool:
        """Check the job's outputs; True when the job is now held (do not succeed it)."""
        if self.tool is None or job.category == "train":
            return False
        try:
            verdict = await self.classify(job, outputs)
        except Exception as exc:  # nothing unchecked goes out: an admin decides
            log.warning("output check of job %s failed: %s", job.id, exc)
            verdict = Verdict(True, "the output check failed", str(exc)[:500])
        if not verdict.flagged:
            return False
        return await self.hold(job, outputs, verdict, worker=worker)

    async def classify(self, job: Job, outputs: list[str]) -> Verdict:
        assert self.tool is not None
        for n, media_id in enumerate(outputs):
            item = await self.media.get(media_id)
            if not item.is_image:
                continue
            spec = self._spec(job, n, ImageInput(await self.media.read(item), item.media_type))
            handle = await self.engine.submit(spec)
            async for event in self.engine.events(handle):
                if event.kind == "error":
                    raise EngineFailed(event.message or "the classifier reported an error")
                if event.kind in ("done", "cancelled"):
                    break
            for artifact in await self.engine.result(handle):
                verdict = _verdict(artifact)
                if verdict.flagged:
                    return Verdict(True, f"{self.tool.name}: {verdict.rule}", verdict.note)
        return Verdict(False)

    def _spec(self, job: Job, n: int, image: ImageInput) -> JobSpec:
        assert self.tool is not None
        params = {**self.tool.params, "prompt": str(job.params.get("prompt", ""))}
        return JobSpec(
            job_id=f"{job.id}-check-{n}", tool=self.tool.name, category="classify",
            params=params, graph=self.tool.graph, images={"image": image},
            bindings={"image": self.tool.image} if self.tool.image else {},
        )

    # ----- the hold and its review -------------------------------------------------------

    async def hold(self, job: Job, outputs: list[str], verdict: Verdict, *,
                   worker: str | None = None) -> bool:
        progress = {**job.progress, "message": REVIEW_MESSAGE, "held": True}
        async with self.db.write() as conn:
            fence = () if worker is None else (jobs.c.lease_owner == worker,)
            moved = await conn.execute(
                update(jobs).where(jobs.c.id == job.id,
                                   jobs.c.state.in_(("running", "uploading")), *fence)
                .values(state=HELD, progress=progress, lease_owner=None,
                        lease_expires_at=None, updated_at=utcnow())
            )
            if not moved.rowcount:
                return True  # cancelled or taken over meanwhile: not ours to succeed
            await conn.execute(moderation_events.insert().values(
                kind="flagged", account_id=job.owner_id, job_id=job.id,
                rule=verdict.rule[:300], text=verdict.note or None, outputs=outputs,
                status=HELD, created_at=utcnow(),
            ))
        log.info("job %s held for review (%s)", job.id, verdict.rule)
        await self.bus.publish(JobProgressed(job_id=job.id, owner_id=job.owner_id,
                                             reply=job.reply, state=HELD, progress=progress))
        return True

    async def release(self, job_id: str, by: str | None = None) -> Job:
        """Deliver a held job: its outputs go to the user and its price is charged now (a
        job whose owner cancelled it meanwhile ends cancelled, for nothing)."""
        async with self.db.write() as conn:
            job, event = await self._held(conn, job_id)
            outputs = list(event.outputs or [])
            if job.cancel_requested:
                released = await self.ledger.release(conn, job.ref, memo="cancelled in review")
                await self._end(conn, job, "cancelled", cancel_requested=True)
                await add_to_outbox(conn, JobCancelled(job_id=job.id, owner_id=job.owner_id,
                                                       reply=job.reply, released=released))
            else:
                charged = await self.ledger.settle(conn, job.ref, job.quote)
                progress = {k: v for k, v in job.progress.items() if k not in ("message", "held")}
                await self._end(conn, job, "succeeded", outputs=outputs, cost=charged,
                                progress={**progress, "percent": 100})
                await add_to_outbox(conn, JobSucceeded(job_id=job.id, owner_id=job.owner_id,
                                                       reply=job.reply, outputs=outputs,
                                                       cost=charged))
                await add_to_outbox(conn, PointsCaptured(account_id=job.payer_id, ref=job.ref,
                                                         amount=charged))
            await self._reviewed(conn, event.id, "released", by)
        self.relay.kick()
        return await self._get(job_id)

    async def reject(self, job_id: str, by: str | None = None) -> Job:
        """Refuse a held job's outputs: the job fails and its whole hold is released."""
        message = "this image did not pass review; nothing was charged"
        async with self.db.write() as conn:
            job, event = await self._held(conn, job_id)
            released = await self.ledger.release(conn, job.ref, memo="rejected in review")
            await self._end(conn, job, "failed", error=message, error_code="rejected")
            await add_to_outbox(conn, JobFailed(job_id=job.id, owner_id=job.owner_id,
                                                reply=job.reply, error=message, code="rejected",
                                                released=released))
            await self._reviewed(conn, event.id, "rejected", by)
        self.relay.kick()
        return await self._get(job_id)

    async def _held(self, conn: AsyncConnection, job_id: str) -> tuple[Job, Any]:
        row = (await conn.execute(
            select(jobs).where(jobs.c.id == job_id).with_for_update())).first()
        if row is None:
            raise NotFound("no such job")
        job = job_from_row(row)
        if job.state != HELD:
            raise Conflict(f"that job is not held for review (it is {job.state})")
        event = (await conn.execute(
            select(moderation_events).where(moderation_events.c.job_id == job_id,
                                            moderation_events.c.status == HELD)
            .order_by(moderation_events.c.id.desc()).limit(1))).first()
        if event is None:
            raise NotFound("no review for that job")
        return job, event

    async def _end(self, conn: AsyncConnection, job: Job, state: str, **values: Any) -> None:
        await conn.execute(update(jobs).where(jobs.c.id == job.id, jobs.c.state == HELD)
                           .values(state=state, finished_at=utcnow(), updated_at=utcnow(),
                                   **values))

    async def _reviewed(self, conn: AsyncConnection, event_id: int, status: str,
                        by: str | None) -> None:
        await conn.execute(update(moderation_events).where(moderation_events.c.id == event_id)
                           .values(status=status, reviewed_by=by, reviewed_at=utcnow()))

    async def _get(self, job_id: str) -> Job:
        async with self.db.read() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
        assert row is not None
        return job_from_row(row)


def _verdict(artifact: Artifact) -> Verdict:
    meta = artifact.meta or {}
    if meta.get("flagged"):
        return Verdict(True, str(meta.get("label") or "flagged"), str(meta.get("note") or ""))
    body = artifact.data[:10_000].decode("utf-8", "replace").strip()
    if artifact.media_type == "application/json" or body.startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            if data.get("flagged"):
                return Verdict(True, str(data.get("label") or "flagged"),
                               str(data.get("note") or ""))
            return Verdict(False)
    if artifact.media_type.startswith("text/"):
        first = body.split(maxsplit=1)[0].lower().strip(":.,") if body else ""
        if first in _FLAG_WORDS:
            return Verdict(True, first, body[:500])
    return Verdict(False)
