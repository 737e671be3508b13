"""The application container that ``bootstrap.build`` returns and platforms drive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from stationthis.config import Settings
from stationthis.core.datasets import DatasetService
from stationthis.core.db import Database
from stationthis.core.engine import Capability, Engine, graph_checker, has
from stationthis.core.events import EventBus, OutboxRelay
from stationthis.core.jobs import JobService
from stationthis.core.media import MediaService
from stationthis.core.media_store import MediaStore
from stationthis.core.models import ModelRegistry
from stationthis.core.moderation import PromptFilter
from stationthis.core.notifications import NotificationService
from stationthis.core.periodic import Periodic
from stationthis.core.points import Ledger
from stationthis.core.preferences import Preferences
from stationthis.core.purchases import PaymentProvider
from stationthis.core.queue import JobQueue
from stationthis.core.ratelimit import Limits
from stationthis.core.runner import JobRunner
from stationthis.core.signals import Signals
from stationthis.core.tools import ToolRegistry
from stationthis.core.users import Users
from stationthis.core.worker import Worker
from stationthis.workflows.account import AccountWorkflow
from stationthis.workflows.admin import AdminWorkflow
from stationthis.workflows.again import Again
from stationthis.workflows.auth import AuthWorkflow
from stationthis.workflows.collections import Collections
from stationthis.workflows.cook import Cook
from stationthis.workflows.groups import Groups
from stationthis.workflows.history import History
from stationthis.workflows.limits import TierPolicy
from stationthis.workflows.make_image import MakeImage
from stationthis.workflows.operators import Operators
from stationthis.workflows.purchases import Purchases
from stationthis.workflows.server_loras import ServerLoras
from stationthis.workflows.settings import SettingsWorkflow
from stationthis.workflows.status import Status
from stationthis.workflows.styles import Styles
from stationthis.workflows.training import Training

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database
    bus: EventBus
    relay: OutboxRelay
    ledger: Ledger
    users: Users
    tools: ToolRegistry
    media: MediaService
    store: MediaStore
    jobs: JobService
    engine: Engine
    runner: JobRunner
    queue: JobQueue
    make_image: MakeImage
    account: AccountWorkflow
    again: Again  # regenerate, variations, tweak, upscale / rmbg of an output
    history: History
    status: Status
    notifications: NotificationService
    # Per-user settings, tiers and moderation (``settings`` is the configuration).
    preferences: Preferences
    tiers: TierPolicy
    prompt_filter: PromptFilter
    user_settings: SettingsWorkflow
    admin: AdminWorkflow
    datasets: DatasetService
    models: ModelRegistry
    training: Training
    collections: Collections  # collections, items, sharing, links, export
    cook: Cook  # cook mode: master prompt + traits → a run of make-image jobs
    auth: AuthWorkflow  # web sign-up/sign-in, sessions, API keys, sign-in links
    groups: Groups  # who pays in a group, the group's points pool
    signals: Signals  # wake-ups, cancel and progress across processes (core/signals.py)
    limits: Limits  # throttles, replay guards, chat rate limits, send pacing (Redis or local)
    purchases: Purchases  # buying points: packages, Stars and card payments, refunds
    # The provider that refunds a purchase of a channel ("stripe", "telegram"): bootstrap's.
    payment_provider: Callable[[str], PaymentProvider] | None = None
    role: str = "embedded"  # embedded (web + worker) | web | worker (bootstrap.build)
    periodic: Periodic | None = None  # clean-ups, once per tick across processes
    operators: Operators | None = None  # the admin console's use cases (workflows/operators.py)
    server_loras: ServerLoras | None = None  # the servers' LoRA files (workflows/server_loras.py)
    styles: Styles | None = None  # saved styles and wildcard lists (workflows/styles.py)
    _started: bool = False
    _publishing: bool = False
    _background: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self, *, resume: bool = True) -> None:
        """Start the background parts. With ``resume`` (the service and workers), every
        unfinished job is picked up again; a one-shot command (``stationthis make``) passes
        False and runs only its own jobs, so it never takes over a running server's work."""
        if self._started:
            return
        self._started = True
        if self.role == "web":  # a web node runs no job and sends no notification
            await self.queue.start()
            return
        self.notifications.start()  # subscribed before the relay re-publishes a crash's events
        if isinstance(self.queue, Worker):
            # A one-shot command runs only the jobs it makes; a service claims every
            # runnable job, also those of a crashed process once their leases expire.
            self.queue.claim_all = resume
        await self.queue.start()
        if resume:
            # Only a long-running process publishes the outbox: a one-shot command must not
            # take a server's completion events (and so its users' notifications) away.
            self._publishing = True
            self.relay.start()
            await self.relay.drain()  # events a crash left behind
            await self.cook.runner.resume_all()  # cook runs continue where they stopped
            if self.periodic is not None:
                self.periodic.start()
        if has(self.engine, Capability.CHECK_GRAPH):
            self._background.append(asyncio.create_task(self.check_tools(log_problems=True)))

    async def check_tools(self, log_problems: bool = False) -> dict[str, dict[str, list[str]]]:
        """What each backend server lacks to run each tool (node classes, model files)."""
        checker = graph_checker(self.engine)
        report: dict[str, dict[str, list[str]]] = {}
        if checker is None:
            return report
        for tool in self.tools.all():
            try:
                report[tool.name] = await checker.check_graph(tool.graph)
            except Exception as exc:  # a report, never a reason to stop
                log.warning("could not check tool %s: %s", tool.name, exc)
                continue
            for server, problems in report[tool.name].items():
                if problems and log_problems:
                    log.warning("tool %s cannot run on %s: %s", tool.name, server,
                                "; ".join(problems))
        return report

    async def stop(self) -> None:
        """Stop every part; a part that does not stop within its bound is logged and left
        (a stop must never hang a process or a test run)."""
        await _bounded(self.auth.close(), "auth cache")  # it may listen even when not started
        if not self._started:
            await _bounded(self.limits.close(), "limits")
            await _bounded(self.db.dispose(), "database")
            return
        self._started = False
        self._publishing, publishing = False, self._publishing
        for task in self._background:
            task.cancel()
        if self.periodic is not None:
            await _bounded(self.periodic.stop(), "periodic tasks")
        await _bounded(self.queue.stop(), "worker", 60.0)  # its own grace period is inside
        if publishing:
            await _bounded(self.relay.drain(), "outbox relay (drain)")
            await _bounded(self.relay.stop(), "outbox relay")
        await _bounded(self.notifications.stop(), "notifications")
        await _bounded(self.engine.aclose(), "engine")
        await _bounded(self.signals.close(), "signals")
        await _bounded(self.limits.close(), "limits")
        await _bounded(self.db.dispose(), "database")

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _bounded(step: Awaitable[object], what: str, seconds: float = 30.0) -> None:
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        log.error("stopping: %s did not stop within %.0f s; going on without it", what, seconds)
