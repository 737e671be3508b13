"""Operators' view of the web process: a request id on every log line, an access log line per
request, ``/metrics`` for Prometheus, and the moderation rules kept fresh.

``/metrics`` answers only with ``Authorization: Bearer <STATIONTHIS_METRICS_TOKEN>``; without
that setting it does not exist (404). What it shows:

- read from the database at each scrape (the same on every node): ``stationthis_jobs``
  (gauge, by state and tool), ``stationthis_ledger_rows_total`` (by kind),
  ``stationthis_notifications_sent_total`` (deliveries claimed),
  ``stationthis_job_failures_total`` (by error code; ``engine_failed`` and friends are the
  engine's errors), ``stationthis_held_outputs`` (awaiting review);
- counted in this process since it started: ``stationthis_queue_wait_seconds`` and
  ``stationthis_run_seconds`` (histograms, by tool, of jobs finishing here),
  ``stationthis_engine_errors_total``, ``stationthis_notifications_failed_total``,
  ``stationthis_webhooks_refused_total`` (by hook), ``stationthis_http_requests_total``.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Iterable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stationthis.core import log_context
from stationthis.core.events import Event, JobCancelled, JobFailed, JobSucceeded
from stationthis.core.schema import deliveries, jobs, ledger, moderation_events
from stationthis.workflows.app import App

access_log = logging.getLogger("stationthis.web.access")
ENGINE_ERRORS = ("engine_failed", "timeout", "lost", "internal")
_HOOKS = {"/telegram/webhook": "telegram", "/discord/interactions": "discord",
          "/api/v1/webhooks/comfydeploy/": "comfydeploy"}
_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"))


class ProcessMetrics:
    """Counters of this process, fed by the event bus, the request middleware and the
    notification service's error log."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.wait = Histogram("stationthis_queue_wait_seconds", "queued → started, per job",
                              ["tool"], buckets=_BUCKETS, registry=r)
        self.run = Histogram("stationthis_run_seconds", "started → finished, per job",
                             ["tool", "state"], buckets=_BUCKETS, registry=r)
        self.engine_errors = Counter("stationthis_engine_errors", "jobs failed by the engine",
                                     ["code"], registry=r)
        self.notify_failed = Counter("stationthis_notifications_failed",
                                     "notifier calls that raised", registry=r)
        self.webhooks_refused = Counter("stationthis_webhooks_refused",
                                        "webhook calls answered 4xx", ["hook"], registry=r)
        self.requests = Counter("stationthis_http_requests", "requests answered",
                                ["status"], registry=r)
        self._seen: set[str] = set()
        app.bus.subscribe(self._on_finished, JobSucceeded, JobFailed, JobCancelled)
        logging.getLogger("stationthis.core.notifications").addHandler(_FailureCounter(self))

    async def _on_finished(self, event: Event) -> None:
        assert isinstance(event, JobSucceeded | JobFailed | JobCancelled)
        if event.id in self._seen:  # the outbox delivers at least once
            return
        self._seen.add(event.id)
        if len(self._seen) > 50_000:
            self._seen.clear()
        state = {JobSucceeded: "succeeded", JobFailed: "failed"}.get(type(event), "cancelled")
        if event.tool is not None:  # the event says when it ran: nothing to read
            if event.waited is not None:
                self.wait.labels(event.tool).observe(event.waited)
            if event.ran is not None:
                self.run.labels(event.tool, state).observe(event.ran)
        else:  # an event written before it said so, or a review notice
            try:
                job = await self.app.jobs.get(event.job_id)
            except Exception:
                return
            if job.started_at is not None:
                self.wait.labels(job.tool).observe(
                    (job.started_at - job.created_at).total_seconds())
                if job.finished_at is not None:
                    self.run.labels(job.tool, job.state).observe(
                        (job.finished_at - job.started_at).total_seconds())
        if isinstance(event, JobFailed) and event.code in ENGINE_ERRORS:
            self.engine_errors.labels(event.code).inc()


class _FailureCounter(logging.Handler):
    def __init__(self, metrics: ProcessMetrics) -> None:
        super().__init__(logging.ERROR)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        if "notifier failed" in str(record.msg):
            self.metrics.notify_failed.inc()


class _Snapshot:
    """A collector that yields metric families read just before the scrape."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return iter(self.families)


async def database_metrics(app: App) -> list[Metric]:
    async with app.db.read(offload=True) as conn:  # whole tables: not on the event loop
        by_state = (await conn.execute(select(jobs.c.state, jobs.c.tool, func.count())
                                       .group_by(jobs.c.state, jobs.c.tool))).all()
        kinds = (await conn.execute(select(ledger.c.kind, func.count())
                                    .group_by(ledger.c.kind))).all()
        failures = (await conn.execute(select(jobs.c.error_code, func.count())
                                       .where(jobs.c.state == "failed")
                                       .group_by(jobs.c.error_code))).all()
        sent = (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
        held = (await conn.execute(select(func.count()).select_from(moderation_events).where(
            moderation_events.c.kind == "flagged", moderation_events.c.status == "held"))
        ).scalar_one()
    states = GaugeMetricFamily("stationthis_jobs", "jobs by state and tool",
                               labels=["state", "tool"])
    for state, tool, n in by_state:
        states.add_metric([state, tool], n)
    rows = CounterMetricFamily("stationthis_ledger_rows", "ledger rows written, by kind",
                               labels=["kind"])
    for kind, n in kinds:
        rows.add_metric([kind], n)
    failed = CounterMetricFamily("stationthis_job_failures", "failed jobs by error code",
                                 labels=["code"])
    for code, n in failures:
        failed.add_metric([code or "unknown"], n)
    delivered = CounterMetricFamily("stationthis_notifications_sent",
                                    "completion notices delivered (claimed per target)")
    delivered.add_metric([], sent)
    review = GaugeMetricFamily("stationthis_held_outputs", "outputs waiting for review")
    review.add_metric([], held)
    return [states, rows, failed, delivered, review]


class RequestContext:
    """Pure ASGI middleware: a request id (``X-Request-ID``, ours unless a trusted one came
    in), bound for every log line of the request; one access line; counters; moderation
    rules refreshed when stale."""

    def __init__(self, asgi: ASGIApp, station: App, metrics: ProcessMetrics) -> None:
        self.asgi = asgi
        self.station = station
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.asgi(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex[:16]
        status = 500
        started = time.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with log_context.bound(request_id=request_id, user_id=None, job_id=None):
            operators = self.station.operators
            if operators is not None:
                await operators.rules.refresh_if_stale()
            try:
                await self.asgi(scope, receive, send_with_id)
            finally:
                path = str(scope.get("path", ""))
                self.metrics.requests.labels(str(status)).inc()
                hook = next((name for prefix, name in _HOOKS.items()
                             if path.startswith(prefix)), None)
                if hook is not None and 400 <= status < 500:
                    self.metrics.webhooks_refused.labels(hook).inc()
                access_log.info("%s %s %s %.0fms", scope.get("method"), path, status,
                                (time.monotonic() - started) * 1000)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if 8 <= len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None


def install(web: FastAPI, app: App) -> ProcessMetrics:
    metrics = ProcessMetrics(app)
    web.state.metrics = metrics
    web.add_middleware(RequestContext, station=app, metrics=metrics)
    token = app.settings.metrics_token

    @web.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        if token is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response("a valid Bearer token is needed", status_code=401,
                            media_type="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(await database_metrics(app)))
        body = generate_latest(registry) + generate_latest(metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics

