"""Moderation at runtime: blocked words and patterns kept in the database (merged with the
settings' ones, no restart) and the moderation log (refused prompts, flagged outputs).

``ModerationRules.refresh`` loads the stored rules into the running ``PromptFilter``; the
process that edits them refreshes at once, the others within ``max_age`` seconds (the web
app calls ``refresh_if_stale`` before each request). ``attach`` makes the filter report each
refusal here; the log rows are written in the background (a refusal answers at once).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from stationthis.core.db import Database, as_utc, utcnow
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.moderation import PromptFilter, Refusal, compile_pattern
from stationthis.core.schema import moderation_events, moderation_rules

log = logging.getLogger(__name__)
KINDS = ("word", "pattern")
MAX_RULE = 300
MAX_TEXT = 4000


@dataclass(frozen=True)
class Rule:
    id: int
    kind: str  # word | pattern
    value: str
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class ModerationEvent:
    id: int
    kind: str  # refused | flagged
    account_id: str | None
    job_id: str | None
    rule: str
    text: str | None
    outputs: list[str]  # a flagged job's outputs (media ids)
    status: str | None  # flagged outputs: held | released | rejected
    reviewed_by: str | None
    created_at: datetime
    reviewed_at: datetime | None


class ModerationRules:
    def __init__(self, db: Database, prompt_filter: PromptFilter, max_age: float = 10.0) -> None:
        self.db = db
        self.filter = prompt_filter
        self.max_age = max_age
        self._loaded_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ----- rules -------------------------------------------------------------------------

    async def list(self) -> list[Rule]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(moderation_rules).order_by(moderation_rules.c.kind, moderation_rules.c.id)
            )).all()
        return [Rule(r.id, r.kind, r.value, r.created_by, as_utc(r.created_at)) for r in rows]

    async def add(self, kind: str, value: str, by: str | None = None) -> Rule:
        """Block a word (or phrase) or a pattern from now on; refused when it is invalid or
        already blocked."""
        value = value.strip()
        if kind not in KINDS:
            raise InvalidInput(f"a rule is a word or a pattern, not {kind!r}")
        if not value:
            raise InvalidInput(f"the blocked {kind} is empty")
        if len(value) > MAX_RULE:
            raise InvalidInput(f"a blocked {kind} is at most {MAX_RULE} characters")
        if kind == "pattern":
            try:
                compile_pattern(value)
            except ValueError as exc:
                raise InvalidInput(str(exc), input="value") from None
        elif not PromptFilter([value]).enabled:
            raise InvalidInput(f"{value!r} has no letters or digits to match")
        try:
            async with self.db.write() as conn:
                await conn.execute(insert(moderation_rules).values(
                    kind=kind, value=value, created_by=by, created_at=utcnow()))
        except IntegrityError:
            raise InvalidInput(f"that {kind} is already blocked") from None
        await self.refresh()
        return next(r for r in await self.list() if r.kind == kind and r.value == value)

    async def remove(self, rule_id: int) -> Rule:
        found = [r for r in await self.list() if r.id == rule_id]
        if not found:
            raise NotFound("no such rule (rules from the settings are changed there)")
        async with self.db.write() as conn:
            await conn.execute(delete(moderation_rules).where(moderation_rules.c.id == rule_id))
        await self.refresh()
        return found[0]

    async def refresh(self) -> None:
        """Load the stored rules into the filter (the settings' rules stay)."""
        rules = await self.list()
        self.filter.set_extra(
            [r.value for r in rules if r.kind == "word"],
            [r.value for r in rules if r.kind == "pattern"],
        )
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self) -> None:
        if self._loaded_at is not None and time.monotonic() - self._loaded_at < self.max_age:
            return
        self._loaded_at = time.monotonic()  # one refresh at a time per window
        try:
            await self.refresh()
        except Exception:  # the settings' rules still apply; try again next window
            log.exception("could not load the blocked words and patterns")

    # ----- the log -----------------------------------------------------------------------

    def attach(self) -> None:
        """Log every refusal of the filter (in the background)."""
        self.filter.on_refusal = self._on_refusal

    def _on_refusal(self, refusal: Refusal) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.record_refusal(refusal))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for refusals being written (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def record_refusal(self, refusal: Refusal) -> None:
        from stationthis.core.log_context import current

        who = refusal.who or current().get("user_id")
        label = f"{refusal.match.kind}: {refusal.match.rule}"
        text = refusal.text if refusal.field == "prompt" else f"[{refusal.field}] {refusal.text}"
        try:
            await self._insert(kind="refused", account_id=who, rule=label[:MAX_RULE],
                               text=text[:MAX_TEXT])
        except Exception:
            log.exception("could not log a refused prompt")

    async def record_flag(self, job_id: str, account_id: str, rule: str,
                          note: str | None = None) -> None:
        await self._insert(kind="flagged", account_id=account_id, job_id=job_id,
                           rule=rule[:MAX_RULE], text=(note or "")[:MAX_TEXT] or None,
                           status="held")

    async def _insert(self, **values: Any) -> None:
        async with self.db.write() as conn:
            await conn.execute(insert(moderation_events).values(created_at=utcnow(), **values))

    async def events(self, kind: str | None = None, *, status: str | None = None,
                     account_id: str | None = None, limit: int = 100,
                     ) -> builtins.list[ModerationEvent]:
        query = select(moderation_events)
        if kind is not None:
            query = query.where(moderation_events.c.kind == kind)
        if status is not None:
            query = query.where(moderation_events.c.status == status)
        if account_id is not None:
            query = query.where(moderation_events.c.account_id == account_id)
        query = query.order_by(moderation_events.c.id.desc()).limit(limit)
        async with self.db.read() as conn:
            return [_event(r) for r in (await conn.execute(query)).all()]

    async def count(self, kind: str, status: str | None = None) -> int:
        query = select(func.count()).select_from(moderation_events).where(
            moderation_events.c.kind == kind)
        if status is not None:
            query = query.where(moderation_events.c.status == status)
        async with self.db.read() as conn:
            return int((await conn.execute(query)).scalar_one())


def _event(r: Any) -> ModerationEvent:
    return ModerationEvent(
        id=r.id, kind=r.kind, account_id=r.account_id, job_id=r.job_id, rule=r.rule,
        text=r.text, outputs=list(r.outputs or []), status=r.status, reviewed_by=r.reviewed_by,
        created_at=as_utc(r.created_at),
        reviewed_at=as_utc(r.reviewed_at) if r.reviewed_at is not None else None,
    )
