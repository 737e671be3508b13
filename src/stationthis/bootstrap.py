"""The composition root: the only module that picks concrete classes and wires them.

``build(settings, **overrides)`` constructs everything without doing I/O; ``App.start()``
starts the background parts (outbox relay, job queue) and re-queues unfinished jobs.
Tests pass fakes: ``build(settings, engine=ScriptedEngine())``; platforms' notifiers come as
``notifiers=[...]`` (or ``app.notifications.register`` before start).
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from stationthis.config import Settings
from stationthis.core.accounts_admin import AccountsAdmin
from stationthis.core.audit import AuditLog
from stationthis.core.auth import AuthStore
from stationthis.core.collections import CollectionStore
from stationthis.core.collections_runs import CookStore
from stationthis.core.datasets import DatasetService
from stationthis.core.db import Database
from stationthis.core.engine import Engine
from stationthis.core.errors import InvalidInput
from stationthis.core.events import (
    Event,
    EventBus,
    JobCancelled,
    JobCancelRequested,
    JobFailed,
    JobProgressed,
    JobSucceeded,
    OutboxRelay,
)
from stationthis.core.jobs import JobService
from stationthis.core.leases import JobLeases
from stationthis.core.media import MediaService
from stationthis.core.media_store import MediaStore, ObstoreMediaStore
from stationthis.core.models import ModelRegistry
from stationthis.core.moderation import PromptFilter
from stationthis.core.moderation_rules import ModerationRules
from stationthis.core.notifications import NotificationService
from stationthis.core.periodic import Periodic, Task
from stationthis.core.points import AllowancePolicy
from stationthis.core.preferences import Preferences
from stationthis.core.progress_fanout import ProgressFanout
from stationthis.core.purchases import PaymentProvider, PurchaseStore
from stationthis.core.queue import JobQueue
from stationthis.core.ratelimit import Limits, LocalLimits
from stationthis.core.refunds import RefundAwareLedger
from stationthis.core.review import CheckTool, OutputCheck
from stationthis.core.runner import JobRunner
from stationthis.core.server_loras import ServerLoraCatalog
from stationthis.core.signals import LocalSignals, Signals
from stationthis.core.styles import StyleBook
from stationthis.core.tools import CostFormula, ToolRegistry
from stationthis.core.users import Users
from stationthis.core.worker import WakeOnly, Worker
from stationthis.workflows.account import AccountWorkflow
from stationthis.workflows.admin import AdminWorkflow
from stationthis.workflows.again import Again
from stationthis.workflows.app import App
from stationthis.workflows.auth import AuthPolicy, AuthWorkflow
from stationthis.workflows.collections import Collections
from stationthis.workflows.cook import Cook, CookRunner
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
from stationthis.workflows.training import Training, TrainingCosts

log = logging.getLogger(__name__)
BUILTIN_TOOLS = Path(__file__).parent / "builtin_tools"
ROLES = ("embedded", "web", "worker")


def build(settings: Settings, role: str = "embedded", **overrides: Any) -> App:
    """``role``: ``embedded`` (web + worker, the default), ``web`` (no job execution) or
    ``worker`` (runs jobs, relays the outbox, notifies)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    db: Database = overrides.get("db") or Database(settings.db_url,
                                                   pool_size=settings.db_pool_size)
    bus = overrides.get("bus") or EventBus()
    signals: Signals = overrides.get("signals") or _signals(settings)
    if not isinstance(signals, LocalSignals):  # in one process the bus already carries it
        bus.subscribe(ProgressFanout(signals).on_progress, JobProgressed)  # type: ignore[arg-type]
    relay = OutboxRelay(db, bus)
    limits: Limits = overrides.get("limits") or _limits(settings, db)
    policy = AllowancePolicy(
        settings.allowance.amount, settings.allowance.steps, settings.allowance.interval_seconds
    )
    ledger = RefundAwareLedger(  # the core ledger plus the refund rules (core/refunds.py)
        db, policy, **({"clock": overrides["clock"]} if "clock" in overrides else {}))
    users = Users(db, ledger, policy, settings.new_user_grant, throttle=limits.throttle)
    tools: ToolRegistry = overrides.get("tools") or _tools(settings)
    store: MediaStore = overrides.get("store") or ObstoreMediaStore.local(
        Path(settings.media_dir or settings.data_dir / "media")
    )
    media = MediaService(
        db, store, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes,
        thumb_size=settings.thumbnail_size,
    )
    jobs = JobService(db, ledger, bus, relay, settings.max_queued_per_user, signals=signals)
    engine: Engine = overrides.get("engine") or _engine(settings)
    check_tool = CheckTool.load(settings.output_check_tool) if settings.output_check_tool else None
    output_check = OutputCheck(db, engine, media, ledger, bus, relay, check_tool)
    runner = JobRunner(
        jobs, engine, media, tools, bus, timeout_seconds=settings.job_timeout_seconds,
        output_check=output_check if check_tool is not None else None,
    )
    queue: JobQueue = overrides.get("queue") or _queue(settings, db, runner, signals, role)
    notifications = NotificationService(
        db, bus, users, notifiers=overrides.get("notifiers") or [],
        progress_interval=settings.notify_progress_interval,
    )
    preferences = Preferences(db)
    tiers = TierPolicy(settings.tiers)
    prompt_filter = PromptFilter(settings.blocked_words, settings.blocked_patterns)
    rules = ModerationRules(db, prompt_filter)  # words and patterns added by admins, a log
    rules.attach()
    models = ModelRegistry(db)
    datasets = DatasetService(db, media, max_images=settings.dataset_max_images,
                              resolution=settings.training_resolution)
    styles = Styles(StyleBook(db))  # saved styles and wildcard lists (--style, __colours__)
    server_loras = ServerLoras(ServerLoraCatalog(db), engine)  # the servers' LoRA files
    make_image = MakeImage(
        tools, jobs, ledger, media, queue, engine.name, preferences=preferences, tiers=tiers,
        prompt_filter=prompt_filter, users=users, models=models, styles=styles,
        server_loras=server_loras,
    )
    collection_store = CollectionStore(db)
    auth_store = AuthStore(db)
    auth = AuthWorkflow(auth_store, users, AuthPolicy(
        timedelta(days=settings.web.session_days),
        timedelta(minutes=settings.web.login_link_minutes), settings.web.signin_free_failures,
        settings.web.signups_per_hour,
    ), throttle=limits.throttle, backoff=limits.sign_in_backoff(auth_store), signals=signals)
    c = settings.costs
    training = Training(
        datasets, models, jobs, ledger, tools, media, queue, bus, engine.name,
        TrainingCosts(c.training_base, c.training_per_image, c.training_per_100_steps),
        capabilities=engine.capabilities,
    )
    admin = AdminWorkflow(users, ledger, tiers)
    cook = Cook(CookStore(db), collection_store, make_image, jobs, users, bus,
                max_supply=settings.cook_max_supply)
    _wire(bus, [  # every subscription of the core and the workflows, in one place
        (runner.on_cancel_requested, (JobCancelRequested,)),
        (training.on_job_succeeded, (JobSucceeded,)),
        (cook.runner.on_job_finished, (JobSucceeded, JobFailed, JobCancelled)),
    ])
    operators = Operators(db, users, ledger, jobs, admin, AccountsAdmin(db, users), AuditLog(db),
                          rules, output_check, engine.health)
    return App(
        settings=settings, db=db, bus=bus, relay=relay, ledger=ledger, users=users, tools=tools,
        media=media, store=store, jobs=jobs, engine=engine, runner=runner, queue=queue,
        make_image=make_image,
        again=Again(make_image, jobs, media, tools),
        history=History(jobs, media, tools, make_image),
        status=Status(jobs),
        account=AccountWorkflow(users, ledger, policy, on_merged=auth.forget_account),
        notifications=notifications,
        preferences=preferences, tiers=tiers, prompt_filter=prompt_filter,
        user_settings=SettingsWorkflow(tools, preferences, tiers, prompt_filter),
        admin=admin,
        datasets=datasets, models=models, training=training,
        collections=Collections(collection_store, media, users, jobs),
        cook=cook,
        auth=auth,
        groups=Groups(preferences, ledger),
        signals=signals,
        limits=limits,
        purchases=Purchases(PurchaseStore(db, ledger), ledger, users, tools, settings.packages,
                            card=settings.stripe_enabled),
        payment_provider=functools.partial(payment_provider, settings),
        role=role,
        periodic=None if role == "web" else _periodic(db, queue, cook.runner),
        operators=operators,
        server_loras=server_loras,
        styles=styles,
    )


def payment_provider(settings: Settings, channel: str) -> PaymentProvider:
    """The provider that refunds a purchase of ``channel`` (CLI and admin console)."""
    if channel == "stripe":
        if settings.stripe_secret_key is None:
            raise InvalidInput("STATIONTHIS_STRIPE_SECRET_KEY is not set: no card refunds")
        from stationthis.platforms.web.stripe_checkout import StripeCheckout

        return StripeCheckout(settings)
    if channel == "telegram":
        if settings.telegram_token is None:
            raise InvalidInput("STATIONTHIS_TELEGRAM_TOKEN is not set: no Stars refunds")
        from stationthis.platforms.telegram.handlers.payments import TelegramStars

        return TelegramStars(settings)
    raise InvalidInput(f"purchases through {channel!r} cannot be refunded here")


def _wire(bus: EventBus, table: list[tuple[Any, tuple[type[Event], ...]]]) -> None:
    """Subscribe each handler to its event types. (The notification service subscribes
    when it starts, platforms when they are built, the progress fan-out above.)"""
    for handler, types in table:
        bus.subscribe(handler, *types)


def _periodic(db: Database, queue: JobQueue, cook: CookRunner) -> Periodic:
    """Clean-ups (and the cook runs' safety net) that run once per tick across every worker."""
    from stationthis.core.replay import SqlReplayGuard
    from stationthis.core.throttle import SqlThrottle

    leases = queue.leases if isinstance(queue, Worker) else JobLeases(db)
    owner = queue.id if isinstance(queue, Worker) else "embedded"
    return Periodic(db, owner, [
        Task("prune-throttles", 3600, SqlThrottle(db).prune),
        Task("prune-replays", 3600, SqlReplayGuard(db).prune),
        Task("prune-workers", 3600, leases.prune_stopped),
        Task("cook-advance", 60, cook.tick),  # a slot freed by a job another process ran
    ])


def _queue(
    settings: Settings, db: Database, runner: JobRunner, signals: Signals, role: str
) -> JobQueue:
    if role == "web":
        return WakeOnly(signals)
    return Worker(
        JobLeases(db, settings.worker_lease_seconds), runner, signals,
        slots=settings.max_running, role=role,
        heartbeat_seconds=settings.worker_heartbeat_seconds,
        poll_seconds=settings.worker_poll_seconds, grace_seconds=settings.worker_grace_seconds,
    )


def _signals(settings: Settings) -> Signals:
    redis_url = settings.redis_url
    if redis_url:
        from stationthis.core.redis_signals import RedisSignals

        return RedisSignals(redis_url)
    return LocalSignals()


def _limits(settings: Settings, db: Database) -> Limits:
    """Throttles, replay guards, chat rate limits and send pacing: shared in Redis when it
    is configured (falling back to these while it is down), else in the database and memory."""
    if settings.redis_url:
        from stationthis.core.redis_limits import RedisLimits

        return RedisLimits(db, settings.redis_url)
    return LocalLimits(db)


def _tools(settings: Settings) -> ToolRegistry:
    c = settings.costs
    default = CostFormula(c.base, c.per_tile, c.per_step, c.free_steps)
    dirs = [BUILTIN_TOOLS] + ([settings.tools_dir] if settings.tools_dir else [])
    registry = ToolRegistry.load(dirs, default)
    if settings.comfyui_checkpoint:
        registry.set_default("checkpoint", settings.comfyui_checkpoint)
    if settings.comfyui_upscaler:
        registry.set_default("upscaler", settings.comfyui_upscaler)
    return registry


def _engine(settings: Settings) -> Engine:
    if settings.engine_name == "comfyui":
        from stationthis.engines.comfyui import ComfyUIEngine, ServerPool

        client_id = f"stationthis-{uuid.uuid4().hex}"
        pool = ServerPool(settings.comfyui_url_list, client_id=client_id)
        return ComfyUIEngine(
            pool, client_id=client_id, silence_timeout=settings.comfyui_silence_seconds
        )
    if settings.engine_name == "diffusers":
        from stationthis.engines.diffusers import DiffusersEngine

        assert settings.diffusers_model_dir is not None
        return DiffusersEngine(settings.diffusers_model_dir)
    if settings.engine_name == "comfydeploy":
        from stationthis.engines.comfydeploy import ComfyDeployEngine

        assert settings.comfydeploy_api_key is not None
        public = settings.public_url.rstrip("/") if settings.public_url else None
        return ComfyDeployEngine(
            settings.comfydeploy_url, settings.comfydeploy_api_key.get_secret_value(),
            settings.comfydeploy_deployments,
            webhook_base=f"{public}/api/v1/webhooks/comfydeploy" if public else None,
            webhook_secret=settings.derived_secret("comfydeploy-webhook"),
            poll_interval=settings.comfydeploy_poll_seconds,
        )
    from stationthis.engines.preview import PreviewEngine

    return PreviewEngine()

