"""Typed events, an in-process bus, and the outbox for events that must not be lost.

Progress events go straight to the bus (losing one is harmless: the next replaces it).
Completion events are written to the ``outbox`` table in the same transaction as the state
change, then published by the ``OutboxRelay``; a crash between the two re-publishes them at
the next start. Delivery is therefore at-least-once and every event has an id, so
subscribers can be idempotent per ``event.id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.replies import Reply, read_reply, reply_json
from stationthis.core.schema import outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Event:
    id: str = field(default_factory=new_id)
    at: datetime = field(default_factory=utcnow)
    registry: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Event.registry[cls.__name__] = cls

    @property
    def type(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        if "reply" in data:  # the stored JSON of the address, as in the job's row
            data["reply"] = reply_json(vars(self)["reply"])
        return data

    @staticmethod
    def from_payload(type_name: str, data: dict[str, Any]) -> Event:
        cls = Event.registry[type_name]
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["at"] = as_utc(datetime.fromisoformat(data["at"]))
        if "reply" in values:
            values["reply"] = read_reply(values["reply"])
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class JobEvent(Event):
    job_id: str
    owner_id: str
    reply: Reply | None = None
    # The job's category (``txt2img``, ``train``…) and origin (``cook`` for a cook run's
    # piece): subscribers skip other jobs' events without reading the job. None only in
    # events written before these fields existed (and in review notices): read the job then.
    category: str | None = None
    origin: str | None = None


@dataclass(frozen=True, kw_only=True)
class JobQueued(JobEvent):
    tool: str
    quote: int


@dataclass(frozen=True, kw_only=True)
class JobProgressed(JobEvent):
    state: str
    progress: dict[str, Any]
    preview: bytes | None = None  # a small in-progress image when the engine offers one
    # (progress events go straight to the bus, never to the outbox, so bytes are fine here)


@dataclass(frozen=True, kw_only=True)
class JobFinished(JobEvent):
    """What every final event says of the job's times, so that metrics need not read it:
    its tool, seconds from created to started (``waited``) and from started to finished
    (``ran``; both None when it never started). None in events written before these fields
    existed, and in review notices."""

    tool: str | None = None
    waited: float | None = None
    ran: float | None = None


@dataclass(frozen=True, kw_only=True)
class JobSucceeded(JobFinished):
    outputs: list[str]
    cost: int


@dataclass(frozen=True, kw_only=True)
class JobFailed(JobFinished):
    error: str
    code: str
    released: int


@dataclass(frozen=True, kw_only=True)
class JobCancelled(JobFinished):
    released: int


@dataclass(frozen=True, kw_only=True)
class JobCancelRequested(JobEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class PointsCaptured(Event):
    account_id: str
    ref: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class CookProgressed(Event):
    """A cook run changed (a piece ended, it paused, resumed…), straight to the bus: platforms
    show "37/100" on the run's status message (``reply``). Its end is ``CookFinished``."""

    run_id: str
    collection_id: str
    owner_id: str
    reply: Reply | None
    state: str  # running | paused | finished | cancelled
    done: int
    failed: int
    total: int


@dataclass(frozen=True, kw_only=True)
class CookFinished(Event):
    """Through the outbox (never lost): a run finished (every piece done or failed)."""

    run_id: str
    collection_id: str
    owner_id: str
    reply: Reply | None
    done: int
    failed: int
    total: int


Handler = Callable[[Event], Awaitable[None]]


class EventBus:
    """In-process publish/subscribe. A failing subscriber is logged and never stops others."""

    def __init__(self) -> None:
        self._handlers: list[tuple[tuple[type[Event], ...], Handler]] = []

    def subscribe(self, handler: Handler, *types: type[Event]) -> Callable[[], None]:
        entry = (types or (Event,), handler)
        self._handlers.append(entry)
        return lambda: self._handlers.remove(entry)

    async def publish(self, event: Event) -> None:
        for types, handler in list(self._handlers):
            if isinstance(event, types):
                try:
                    await handler(event)
                except Exception:
                    log.exception("event handler %r failed on %s", handler, event.type)


class SeenEvents:
    """A bounded memory of handled event ids, for idempotent subscribers."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, event_id: str) -> bool:
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


CLAIM_SECONDS = 15.0  # a relay that claimed events and died: others publish them after this


_OUTBOX_INSERT = insert(outbox)  # built once: the values come as parameters


async def add_to_outbox(conn: AsyncConnection, event: Event, *, claimed: bool = False) -> None:
    """Write ``event`` in the caller's transaction. ``claimed``: this process publishes it
    right after the commit (``OutboxRelay.publish_now``); if it dies first, the claim
    expires and any relay publishes it."""
    await add_all_to_outbox(conn, [event], claimed=claimed)


async def add_all_to_outbox(
    conn: AsyncConnection, events: Sequence[Event], *, claimed: bool = False
) -> None:
    """``add_to_outbox`` for several events, in one statement."""
    until = utcnow() + timedelta(seconds=CLAIM_SECONDS) if claimed else None
    rows = [{"event_id": event.id, "type": event.type, "payload": event.payload(),
             "created_at": event.at, "claimed_until": until} for event in events]
    if rows:
        await conn.execute(_OUTBOX_INSERT, rows[0] if len(rows) == 1 else rows)


# The relay's statements, built once (it polls with them every second).
_PENDING = (
    select(outbox.c.id)
    .where(outbox.c.published_at.is_(None),
           or_(outbox.c.claimed_until.is_(None),
               outbox.c.claimed_until < bindparam("now", type_=outbox.c.claimed_until.type)))
    .order_by(outbox.c.id)
    .limit(bindparam("limit"))
)
_PENDING_LOCKED = _PENDING.with_for_update(skip_locked=True)
_CLAIM = (
    update(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_until=bindparam("until"))
    .returning(outbox.c.id, outbox.c.type, outbox.c.payload)
)
_MARK = (
    update(outbox).where(outbox.c.event_id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
)


class OutboxRelay:
    """Publishes outbox rows to the bus, oldest first, and marks them published."""

    def __init__(
        self, db: Database, bus: EventBus, poll_seconds: float = 1.0, *,
        batch: int = 100, claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self.db = db
        self.batch = batch
        self.claim_seconds = claim_seconds
        self.bus = bus
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._to_mark: list[str] = []

    def kick(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def publish_now(self, events: Sequence[Event]) -> None:
        """Publish events this process just committed (claimed in the outbox); they are
        marked published in batches: at the relay's next poll, or at once when a batch is
        full. Until then their claim keeps every other relay off them; if this process dies
        first, the claim expires and a relay publishes them again (subscribers take an
        event at least once)."""
        for event in events:
            await self.bus.publish(event)
            self._to_mark.append(event.id)
        if len(self._to_mark) >= self.batch:
            self._wake.set()

    async def drain(self) -> int:
        """Publish everything pending now. Returns how many events were published.

        Each batch is claimed first (``claimed_until``; ``SKIP LOCKED`` on PostgreSQL), so
        relays in several processes never publish one event twice while both live; a relay
        that dies holding a claim loses it after ``claim_seconds``. No transaction is held
        open while subscribers run (they may write to the database themselves); the batch
        is marked published in one statement afterwards.
        """
        async with self._lock:
            count = 0
            while True:
                rows = await self._claim(self.batch)
                for row in rows:
                    await self.bus.publish(Event.from_payload(row.type, row.payload))
                if rows:
                    async with self.db.write() as conn:
                        await conn.execute(
                            update(outbox)
                            .where(outbox.c.id.in_([row.id for row in rows]))
                            .values(published_at=utcnow())
                        )
                count += len(rows)
                if len(rows) < self.batch:
                    return count

    async def _claim(self, limit: int) -> list[Any]:
        now = utcnow()
        query = _PENDING if self.db.is_sqlite else _PENDING_LOCKED
        async with self.db.write() as conn:
            ids = list((await conn.execute(query, {"now": now, "limit": limit})).scalars())
            if not ids:
                return []
            rows = (await conn.execute(_CLAIM, {
                "ids": ids, "until": now + timedelta(seconds=self.claim_seconds)})).all()
        return sorted(rows, key=lambda row: row.id)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._mark_published()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # (well inside a claim's life: what publish_now claimed is marked in time)
                await asyncio.wait_for(self._wake.wait(),
                                       min(self.poll_seconds, self.claim_seconds / 3))
            self._wake.clear()
            try:
                await self._mark_published()
                await self.drain()
            except Exception:
                log.exception("outbox relay failed; retrying")

    async def _mark_published(self) -> None:
        """Mark events published by ``publish_now``, in one statement."""
        ids, self._to_mark = self._to_mark, []
        if not ids:
            return
        try:
            async with self.db.write() as conn:
                await conn.execute(_MARK, {"ids": ids, "now": utcnow()})
        except Exception:
            self._to_mark.extend(ids)  # the claims hold meanwhile; try again
            raise
