"""The notification service: job events → the platform a job came from, and on request the
user's other linked platforms. Platform-agnostic: it only knows the ``Notifier`` port.

Progress (``JobProgressed``, from the bus) is coalesced per job (``core/coalesce.py``): at
least ``progress_interval`` from one call's end to the next call, the latest state wins, one
call in flight per job, each job on its own task; nothing once the job has finished.

Completion (``JobSucceeded`` / ``JobFailed`` / ``JobCancelled``, through the outbox, at least
once) is delivered exactly once per (event, target): the pair is claimed in ``deliveries``
in a short write transaction *before* the notifier is called, so a re-published event finds
its claim and is skipped. A notifier that raises gives its claim back for a later retry.
See docs/decisions/0010-notification-delivery.md for the remaining window.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from stationthis.core.coalesce import Coalescer
from stationthis.core.db import Database, utcnow
from stationthis.core.events import (
    Event,
    EventBus,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobQueued,
    JobSucceeded,
)
from stationthis.core.notify import JobNotice, Notifier
from stationthis.core.replies import REPLY_TYPES, DirectReply, Reply, read_reply
from stationthis.core.schema import deliveries, jobs, preferences
from stationthis.core.users import Users

log = logging.getLogger(__name__)

EVERYWHERE = "notify_everywhere"  # preference key: completion notices on every platform
PreferencesGetter = Callable[[str, str], Awaitable[Any]]  # (account id, key) → value | None
_REMEMBER = 10_000  # finished jobs and job tools kept in memory


def target_of(address: Reply) -> str:
    """A stable name for a delivery target: ``telegram:chat=1,message=7`` (from the address's
    stored JSON, so the names claimed before a restart or an upgrade still match)."""
    data = address.to_json()
    platform = str(data.get("platform", ""))
    parts = ",".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"
        for key, value in sorted(data.items())
        if key != "platform"
    )
    name = f"{platform}:{parts}"
    if len(name) > 300:  # the column's width
        name = f"{platform}:#{hashlib.sha256(parts.encode()).hexdigest()}"
    return name


def _typed(reply: object) -> Reply | None:
    """The event's address; one still in its JSON shape (an event built by older code) is
    read, and an unreadable one is logged and dropped: never a failed notification."""
    return reply if isinstance(reply, REPLY_TYPES) else read_reply(reply)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value is True or value == 1


class NotificationService:
    def __init__(
        self, db: Database, bus: EventBus, users: Users,
        preferences_getter: PreferencesGetter | None = None, *,
        notifiers: Iterable[Notifier] = (), progress_interval: float = 1.0,
        send_timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.users = users
        self.preferences_getter = preferences_getter
        self.progress_interval = progress_interval
        self.send_timeout = send_timeout  # for one progress call
        self._notifiers: dict[str, Notifier] = {}
        for notifier in notifiers:
            self.register(notifier)
        self._progress: Coalescer[JobProgressed] = Coalescer(
            self._send_progress, progress_interval, remember=_REMEMBER
        )
        self._tools: OrderedDict[str, str] = OrderedDict()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def register(self, notifier: Notifier) -> None:
        """Add a platform's notifier (at bootstrap, before ``start``)."""
        if notifier.platform in self._notifiers:
            raise ValueError(f"a notifier for {notifier.platform!r} is already registered")
        self._notifiers[notifier.platform] = notifier

    @property
    def platforms(self) -> list[str]:
        return sorted(self._notifiers)

    # ----- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the bus (before the outbox relay re-publishes what a crash left)."""
        if not self._unsubscribe:
            self._unsubscribe = [
                self.bus.subscribe(self._on_queued, JobQueued),
                self.bus.subscribe(self._on_progress, JobProgressed),
                self.bus.subscribe(self._on_finished, JobSucceeded, JobFailed, JobCancelled),
            ]

    async def stop(self, timeout: float = 10.0) -> None:
        """Unsubscribe, drop pending progress, let claimed completions finish (bounded)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._progress.cancel()
        await self.wait_idle(timeout)
        for task in list(self._deliveries):  # still running: cancelled, claim kept (0010)
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no delivery is pending or in flight (tests, benches, shutdown)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while busy := self._busy():
                    await asyncio.wait(busy)

    def _busy(self) -> list[asyncio.Task[None]]:
        return self._progress.tasks() + list(self._deliveries)

    # ----- progress ----------------------------------------------------------------------

    async def _on_queued(self, event: Event) -> None:
        assert isinstance(event, JobQueued)
        self._remember(self._tools, event.job_id, event.tool)  # spares a read per job

    async def _on_progress(self, event: Event) -> None:
        assert isinstance(event, JobProgressed)
        if self._route(event.reply) is not None:
            self._progress.offer(event.job_id, event)  # returns at once: the bus never waits

    async def _send_progress(self, event: JobProgressed) -> bool:
        """Call the notifier; returns whether it was called (even if it raised)."""
        route = self._route(event.reply)
        if route is None:
            return False
        notifier, address = route
        try:
            notice = JobNotice(
                job_id=event.job_id, owner_id=event.owner_id, tool=await self._tool(event.job_id),
                state=event.state, progress=dict(event.progress), preview=event.preview,
            )
        except Exception:
            log.exception("could not prepare the progress notice of job %s", event.job_id)
            return False
        if self._progress.closed(event.job_id):  # it finished while we read the tool
            return False
        try:
            async with asyncio.timeout(self.send_timeout):
                await notifier.progress(address, notice)
        except Exception:
            log.exception("%s notifier failed on progress of job %s", notifier.platform,
                          event.job_id)
        return True

    # ----- completion --------------------------------------------------------------------

    async def _on_finished(self, event: Event) -> None:
        assert isinstance(event, JobSucceeded | JobFailed | JobCancelled)
        self._progress.close(event.job_id)  # the final message supersedes pending progress
        reply = _typed(event.reply)
        if reply is None:
            return
        async with self.db.read() as conn:  # one statement: the job and its owner's wish
            row = (
                await conn.execute(
                    select(jobs.c.tool, jobs.c.owner_id, jobs.c.progress, preferences.c.value)
                    .outerjoin(preferences, (preferences.c.account_id == jobs.c.owner_id)
                               & (preferences.c.key == EVERYWHERE))
                    .where(jobs.c.id == event.job_id)
                )
            ).first()
        # the owner may have changed since the event (accounts merged by a link code)
        owner_id = row.owner_id if row is not None else event.owner_id
        wish = (await self.preferences_getter(owner_id, EVERYWHERE) if self.preferences_getter
                else row.value if row is not None else None)
        progress = dict(row.progress or {}) if row is not None else {}
        notice = _final_notice(event, owner_id, row.tool if row is not None else "", progress)
        claimed = [
            (notifier, address, target)
            for notifier, address in await self._targets(reply, owner_id, _truthy(wish))
            if await self._claim(event.id, target := target_of(address))
        ]
        if claimed:
            task = asyncio.create_task(self._deliver(event, notice, claimed), name="notify-done")
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _targets(
        self, reply: Reply, owner_id: str, everywhere: bool
    ) -> list[tuple[Notifier, Reply]]:
        targets: list[tuple[Notifier, Reply]] = []
        route = self._route(reply)
        if route is not None:
            targets.append(route)
        else:
            log.debug("no notifier for platform %r; reply ignored", reply.platform)
        if everywhere:
            for ident in await self.users.identities_of(owner_id):
                notifier = self._notifiers.get(ident.platform)
                if notifier is not None and ident.platform != reply.platform:
                    targets.append((notifier, DirectReply(ident.platform, ident.external_id)))
        return targets

    async def _claim(self, event_id: str, target: str) -> bool:
        """Reserve (event, target); False when it was already delivered or is being so."""
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    insert(deliveries).values(event_id=event_id, target=target,
                                              created_at=utcnow())
                )
        except IntegrityError:
            return False
        return True

    async def _deliver(
        self, event: Event, notice: JobNotice, claimed: list[tuple[Notifier, Reply, str]]
    ) -> None:
        await self._progress.settle(notice.job_id)  # a progress call in flight lands first
        await asyncio.gather(
            *(self._deliver_one(event.id, n, address, target, notice)
              for n, address, target in claimed)
        )

    async def _deliver_one(
        self, event_id: str, notifier: Notifier, address: Reply, target: str,
        notice: JobNotice,
    ) -> None:
        try:
            await notifier.finished(address, notice)
        except Exception:
            log.exception("%s notifier failed to deliver job %s to %s; it is retried if the "
                          "event is published again", notifier.platform, notice.job_id, target)
            try:
                async with self.db.write() as conn:
                    await conn.execute(
                        delete(deliveries).where(
                            deliveries.c.event_id == event_id, deliveries.c.target == target
                        )
                    )
            except Exception:
                log.exception("could not release the delivery claim %s %s", event_id, target)

    # ----- helpers -----------------------------------------------------------------------

    def _route(self, reply: Reply | None) -> tuple[Notifier, Reply] | None:
        reply = _typed(reply)
        if reply is None:
            return None
        notifier = self._notifiers.get(reply.platform)
        return (notifier, reply) if notifier is not None else None

    async def _tool(self, job_id: str) -> str:
        tool = self._tools.get(job_id)
        if tool is None:
            async with self.db.read() as conn:
                found = (
                    await conn.execute(select(jobs.c.tool).where(jobs.c.id == job_id))
                ).scalar_one_or_none()
            tool = str(found or "")
            self._remember(self._tools, job_id, tool)
        return tool

    @staticmethod
    def _remember(memory: OrderedDict[str, Any], key: str, value: Any) -> None:
        memory[key] = value
        memory.move_to_end(key)
        if len(memory) > _REMEMBER:
            memory.popitem(last=False)


def _final_notice(
    event: JobSucceeded | JobFailed | JobCancelled, owner_id: str, tool: str,
    progress: dict[str, Any],
) -> JobNotice:
    common: dict[str, Any] = {"job_id": event.job_id, "owner_id": owner_id, "tool": tool,
                              "progress": progress}
    if isinstance(event, JobSucceeded):
        return JobNotice(state="succeeded", outputs=list(event.outputs), cost=event.cost,
                         **common)
    if isinstance(event, JobFailed):
        return JobNotice(state="failed", error=event.error, error_code=event.code,
                         released=event.released, **common)
    return JobNotice(state="cancelled", released=event.released, **common)
