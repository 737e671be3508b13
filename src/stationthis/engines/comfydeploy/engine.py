"""The ComfyUI Deploy engine: runs tools on deployments of the hosted ComfyUI Deploy service.

The service holds each workflow (a *deployment*, one per tool); we send only the
deployment's external inputs, images inline as data URLs (``payload.py``), never the graph.

A run's state comes from two sources, whichever is first: webhooks (when ``webhook_base`` is
set; see ``webhooks.py`` for how they are authenticated — and they are only a prompt to read
the run from the API, never trusted for its status) and polling ``GET /api/run/{id}`` every
``poll_interval`` seconds as the fallback. The state only moves forward (``state.py``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import mimetypes
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

import httpx

from stationthis.core.engine import (
    Artifact,
    Capability,
    EngineEvent,
    EngineHealth,
    JobSpec,
    RunHandle,
)
from stationthis.core.errors import EngineFailed, Forbidden, RunLost
from stationthis.engines.comfydeploy.client import DeployClient, Unreachable
from stationthis.engines.comfydeploy.payload import (
    deployment_inputs,
    file_name,
    output_images,
    without_query,
)
from stationthis.engines.comfydeploy.state import Emitter, RunState, final_event
from stationthis.engines.comfydeploy.webhooks import make_token, parse_body, verify_token

log = logging.getLogger(__name__)

REMEMBERED_SUBMITS = 4096  # job id -> handle, for idempotent submits of recent jobs


class ComfyDeployEngine:
    name = "comfydeploy"

    def __init__(
        self, base_url: str, api_key: str, deployments: dict[str, str], *,
        webhook_base: str | None = None, webhook_secret: bytes, poll_interval: float = 5.0,
        http: httpx.AsyncClient | None = None, down_grace: float = 300.0,
    ) -> None:
        if webhook_base and not webhook_secret:
            raise ValueError("webhook_base needs a non-empty webhook_secret")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        self.client = DeployClient(base_url, api_key, self._http)
        self.deployments = dict(deployments)
        self.webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self._secret = webhook_secret
        self.poll_interval = poll_interval
        self.down_grace = down_grace  # how long events() waits out an unreachable service
        self._runs: dict[str, RunState] = {}
        self._submitting: dict[str, asyncio.Task[RunHandle]] = {}
        self._submitted: OrderedDict[str, RunHandle] = OrderedDict()
        # It trains when a deployment runs the training tool ("train").
        self.capabilities = frozenset(
            {Capability.WEBHOOKS} | ({Capability.TRAIN} if self.deployments.get("train") else set())
        )

    # ----- Engine protocol ---------------------------------------------------------------

    async def submit(self, job: JobSpec) -> RunHandle:
        handle = self._submitted.get(job.job_id)
        if handle is not None:
            return handle
        task = self._submitting.get(job.job_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._queue(job))
            self._submitting[job.job_id] = task
            task.add_done_callback(self._on_submitted(job.job_id))
        # Shielded: a caller that gives up does not abandon a run the service may accept.
        return await asyncio.shield(task)

    async def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]:
        run = self._track(handle)
        emitter = Emitter()
        down_since: float | None = None
        poll = True  # poll at once: after our own restart, nothing else tells us where it is
        try:
            while True:
                if poll:
                    try:
                        await self._refresh(run)
                        down_since = None
                    except Unreachable as exc:
                        down_since = down_since or time.monotonic()
                        if time.monotonic() - down_since > self.down_grace:
                            raise
                        log.warning("job %s: %s; will retry", run.job_id, exc.message)
                seen = run.version
                for event in emitter.catch_up(run):
                    yield event
                if emitter.finished:
                    return
                poll = not await _wait_change(run, seen, self.poll_interval)
        finally:
            if emitter.finished and run.status != "success":
                self._forget(run.job_id)  # nothing to fetch; result() forgets successes

    async def result(self, handle: RunHandle) -> list[Artifact]:
        try:
            record = await self.client.get_run(_run_id(handle))
            if record.get("status") != "success":
                state = RunState(handle.job_id, _run_id(handle))
                state.apply(record)
                if state.final:
                    raise EngineFailed(final_event(state).message or "the run was cancelled")
                raise EngineFailed(f"ComfyUI Deploy has not finished this run "
                                   f"(status {record.get('status')!r})")
            artifacts = []
            for node_id, image in output_images(record):
                data, media_type = await self.client.download(image["url"])
                name = file_name(image)
                if not media_type.startswith("image/"):
                    media_type = mimetypes.guess_type(name)[0] or "image/png"
                artifacts.append(Artifact(data, media_type, name, meta={
                    "node": node_id, "url": without_query(image["url"]),
                    "run_id": _run_id(handle),
                }))
            return artifacts
        finally:
            self._forget(handle.job_id)

    async def cancel(self, handle: RunHandle) -> None:
        try:
            await self.client.cancel(_run_id(handle))
            run = self._runs.get(handle.job_id)
            if run is not None:
                await self._refresh(run)  # show the cancellation without waiting for a poll
        except EngineFailed as exc:
            log.warning("job %s: cancelling on ComfyUI Deploy failed: %s", handle.job_id, exc)

    async def health(self) -> EngineHealth:
        """No request is made: the service has no documented health route, and polling one
        from every health check would only cost quota. Health is configuration (an API key
        and at least one deployment) plus the outcome of the last real API call."""
        problems = []
        if not self.client.api_key:
            problems.append("no API key configured")
        if not self.deployments:
            problems.append("no deployments configured")
        outcome = self.client.last_outcome
        failed = outcome is not None and outcome[1] is not None
        if outcome is None:
            last = "no request made yet"
        else:
            age = round(time.monotonic() - outcome[0])
            last = (f"last request failed {age}s ago: {outcome[1]}" if failed
                    else f"last request ok {age}s ago")
        active = sum(1 for run in self._runs.values() if not run.final)
        detail = (f"ComfyUI Deploy at {self.client.base_url}: {len(self.deployments)} "
                  f"deployment(s), {active} active run(s); {last}")
        if problems:
            detail += "; " + "; ".join(problems)
        return EngineHealth(ok=not problems and not failed, name=self.name, detail=detail,
                            load=active)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ----- webhooks ----------------------------------------------------------------------

    def webhook_url(self, job_id: str) -> str | None:
        """The URL ComfyUI Deploy is told to call for this job (None without webhooks)."""
        if self.webhook_base is None:
            return None
        return f"{self.webhook_base}/{make_token(self._secret, job_id)}"

    async def receive_webhook(self, token: str, body: bytes) -> None:
        """Handle ``POST {webhook_base}/{token}``. Raises ``Forbidden`` (answer 403) for a
        token that is not ours or a run that is not this job's, ``InvalidInput`` (400) for a
        body that is not a webhook. Otherwise the run is read again from the API."""
        job_id = verify_token(self._secret, token)
        hook = parse_body(body)
        run = self._runs.get(job_id)
        if run is None:
            log.debug("webhook for job %s, which this process does not follow", job_id)
            return
        if not hmac.compare_digest(hook.run_id.encode(), run.run_id.encode()):
            raise Forbidden("the webhook is not for this job's run")
        try:
            await self._refresh(run)
        except EngineFailed as exc:  # polling will catch up
            log.warning("job %s: reading the run after a webhook failed: %s", job_id, exc)

    def run_status(self, job_id: str) -> str | None:
        """The last status we accepted for a job's run (None when we follow no such job)."""
        run = self._runs.get(job_id)
        return None if run is None else run.status

    # ----- internals ---------------------------------------------------------------------

    async def _queue(self, job: JobSpec) -> RunHandle:
        deployment = self.deployments.get(job.tool)
        if not deployment:
            raise EngineFailed(f"the tool {job.tool!r} has no ComfyUI Deploy deployment "
                               f"configured")
        run_id = await self.client.queue(deployment, deployment_inputs(job),
                                         self.webhook_url(job.job_id))
        log.info("job %s queued on ComfyUI Deploy as run %s", job.job_id, run_id)
        self._runs[job.job_id] = RunState(job.job_id, run_id)
        return RunHandle(self.name, job.job_id, run_id, {"run_id": run_id})

    def _on_submitted(self, job_id: str) -> Callable[[asyncio.Task[RunHandle]], None]:
        def done(task: asyncio.Task[RunHandle]) -> None:
            self._submitting.pop(job_id, None)
            if task.cancelled() or task.exception() is not None:
                return  # nothing was accepted: a later submit may try again
            self._submitted[job_id] = task.result()
            while len(self._submitted) > REMEMBERED_SUBMITS:
                self._submitted.popitem(last=False)
        return done

    async def _refresh(self, run: RunState) -> None:
        """Read the run from the API and apply it. Concurrent callers share reads: a caller
        waits for the first read that *starts* after its call, never for more."""
        if run.final:
            return
        run.fetches_wanted += 1
        ticket = run.fetches_wanted
        async with run.fetch_lock:
            if run.fetches_done >= ticket or run.final:
                return
            run.fetches_done = run.fetches_wanted
            moved = run.apply(await self.client.get_run(run.run_id))
        if moved:
            async with run.changed:
                run.changed.notify_all()

    def _track(self, handle: RunHandle) -> RunState:
        run = self._runs.get(handle.job_id)
        if run is None:  # picked up again, e.g. after a restart of StationThis
            run = self._runs[handle.job_id] = RunState(handle.job_id, _run_id(handle))
        return run

    def _forget(self, job_id: str) -> None:
        self._runs.pop(job_id, None)


async def _wait_change(run: RunState, seen: int, timeout: float) -> bool:
    async with run.changed:
        try:
            await asyncio.wait_for(run.changed.wait_for(lambda: run.version != seen), timeout)
        except TimeoutError:
            return False
    return True


def _run_id(handle: RunHandle) -> str:
    run_id = handle.data.get("run_id") or handle.run_id
    if not isinstance(run_id, str) or not run_id:
        raise RunLost("this job's ComfyUI Deploy run id is not recorded")
    return run_id
