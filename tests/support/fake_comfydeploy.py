"""A protocol-faithful fake of the hosted ComfyUI Deploy API, on loopback, for tests.

Routes (shared/reference/comfyui-protocol.md): ``POST /api/run/deployment/queue``,
``GET /api/run/{run_id}``, ``POST /api/run/{run_id}/cancel`` — all behind ``Authorization:
Bearer <key>`` (401 otherwise) — plus ``GET /files/{name}`` serving the output PNGs, without
auth like the storage bucket the real service hands out URLs for.

Each queued run plays a script of ``Step``s (status, progress, live status, delay; ``hold``
waits for ``release()`` or a cancel) and, when the run was queued with a webhook, POSTs a
webhook body to it on every status change (only on final ones without
``webhook_intermediate_status``). Knobs: ``drop_webhooks``, ``stale_next_get``,
``queue_error``, ``fail_next_gets``; every request lands in ``requests``. ``WebhookReceiver``
stands in for our web route and hands webhooks to the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from PIL import Image

from stationthis.core.errors import Forbidden, InvalidInput

FINAL = ("success", "failed", "timeout", "cancelled")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on 127.0.0.1 at a free port; returns the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclass
class Step:
    status: str
    progress: float = 0.0
    live_status: str | None = None
    delay: float = 0.01  # before this step
    hold: bool = False  # wait for release() (or a cancel) before this step


@dataclass
class Script:
    steps: list[Step]
    outputs: int = 1
    error: str | None = None  # the record's "error" field once failed


def success(outputs: int = 1, delay: float = 0.01, hold_before: str | None = None) -> Script:
    steps = [Step("queued", delay=0), Step("started", delay=delay),
             Step("running", 0.25, "KSampler", delay), Step("running", 0.75, "KSampler", delay),
             Step("uploading", 1.0, "uploading", delay), Step("success", 1.0, "done", delay)]
    for step in steps:
        step.hold = step.status == hold_before
    return Script(steps, outputs)


def failed(live_status: str = "KSampler", error: str = "CUDA out of memory") -> Script:
    return Script([Step("queued", delay=0), Step("started"), Step("running", 0.3, live_status),
                   Step("failed", 0.3, live_status)], outputs=0, error=error)


def timed_out() -> Script:
    return Script([Step("queued", delay=0), Step("started"), Step("running", 0.5, "KSampler"),
                   Step("timeout", 0.5)], outputs=0)


def hang() -> Script:
    """Runs until cancelled (or released)."""
    return Script([Step("queued", delay=0), Step("started"), Step("running", 0.1, "KSampler"),
                   Step("success", 1.0, hold=True)])


@dataclass
class Seen:
    method: str
    path: str
    authorized: bool
    body: Any = None


@dataclass
class FakeRun:
    run_id: str
    deployment_id: str
    inputs: dict[str, Any]
    webhook: str | None
    intermediate: bool
    script: Script
    status: str = "not-started"
    progress: float = 0.0
    live_status: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    times: dict[str, str] = field(default_factory=dict)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.run_id, "status": self.status, "live_status": self.live_status,
            "progress": self.progress, "outputs": self.outputs, "queued_at": None,
            "started_at": None, "ended_at": None, **self.times,
        }
        if self.status == "failed" and self.script.error:
            data["error"] = self.script.error
        return data


class FakeComfyDeploy:
    def __init__(self, api_key: str = "test-key", deployments: set[str] | None = None) -> None:
        self.api_key = api_key
        self.deployments = deployments  # None: any deployment id is accepted
        self.default = success()
        self.scripts: list[Script] = []  # used first, in order
        self.runs: dict[str, FakeRun] = {}
        self.requests: list[Seen] = []
        self.webhooks: list[tuple[str, bytes]] = []  # sent (or dropped), in order
        self.drop_webhooks = False
        self.stale_next_get: dict[str, dict[str, Any]] = {}  # run id -> record served once
        self.queue_error: tuple[int, Any] | None = None  # answer the next queue with this
        self.fail_next_gets = 0  # answer that many run reads with 503 (a passing outage)
        self.files: dict[str, bytes] = {}
        self.files_base = ""  # where output URLs point; the API's own origin unless set
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def start(self) -> str:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/api/run/deployment/queue", self._queue)
        app.router.add_get("/api/run/{run_id}", self._get)
        app.router.add_post("/api/run/{run_id}/cancel", self._cancel)
        app.router.add_get("/files/{name}", self._file)
        self._runner, self.base_url = await _serve(app)
        self._session = ClientSession(timeout=ClientTimeout(total=10))
        return self.base_url

    async def close(self) -> None:
        for run in self.runs.values():
            if run.task is not None:
                run.task.cancel()
                await asyncio.gather(run.task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def count(self, method: str, path_prefix: str = "/api/run/") -> int:
        return sum(r.method == method and r.path.startswith(path_prefix) for r in self.requests)

    def release(self, run_id: str) -> None:
        self.runs[run_id].gate.set()

    # ----- routes ------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record every request; refuse the API routes without the right Bearer key."""
        body: Any = None
        if request.can_read_body:
            body = await request.read()
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        ok = request.headers.get("Authorization") == f"Bearer {self.api_key}"
        self.requests.append(Seen(request.method, request.path, ok, body))
        if request.path.startswith("/api/") and not ok:
            return web.json_response({"error": "Invalid or expired token"}, status=401)
        return await handler(request)

    async def _queue(self, request: web.Request) -> web.Response:
        if self.queue_error is not None:
            status, payload = self.queue_error
            self.queue_error = None
            return web.json_response(payload, status=status)
        body = self.requests[-1].body
        deployment = body.get("deployment_id") if isinstance(body, dict) else None
        if not isinstance(deployment, str) or (
            self.deployments is not None and deployment not in self.deployments
        ):
            return web.json_response({"error": "Deployment not found"}, status=404)
        run = FakeRun(
            str(uuid.uuid4()), deployment, dict(body.get("inputs") or {}), body.get("webhook"),
            bool(body.get("webhook_intermediate_status")),
            self.scripts.pop(0) if self.scripts else self.default,
        )
        self.runs[run.run_id] = run
        run.task = asyncio.get_running_loop().create_task(self._play(run))
        return web.json_response({"run_id": run.run_id})

    async def _get(self, request: web.Request) -> web.Response:
        if self.fail_next_gets > 0:
            self.fail_next_gets -= 1
            return web.json_response({"error": "Service Unavailable"}, status=503)
        run = self.runs.get(request.match_info["run_id"])
        if run is None:
            return web.json_response({"error": "Run not found"}, status=404)
        stale = self.stale_next_get.pop(run.run_id, None)
        return web.json_response(stale if stale is not None else run.record())

    async def _cancel(self, request: web.Request) -> web.Response:
        run = self.runs.get(request.match_info["run_id"])
        if run is None:
            return web.json_response({"error": "Run not found"}, status=404)
        if run.status not in FINAL:
            if run.task is not None:
                run.task.cancel()
            await self._set(run, "cancelled", run.progress, "cancelled")
        return web.json_response({"message": "cancelled"})

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    # ----- running -----------------------------------------------------------------------

    async def _play(self, run: FakeRun) -> None:
        for step in run.script.steps:
            if step.hold:
                await run.gate.wait()
            await asyncio.sleep(step.delay)
            if step.status == "success":
                run.outputs = [self._outputs(run)] if run.script.outputs else []
            await self._set(run, step.status, step.progress, step.live_status)

    def _outputs(self, run: FakeRun) -> dict[str, Any]:
        images = []
        for i in range(run.script.outputs):
            name = f"{run.run_id}_{i}.png"
            buf = io.BytesIO()
            Image.new("RGB", (32, 24), (40 * i % 256, 120, 200)).save(buf, "PNG")
            self.files[name] = buf.getvalue()
            url = f"{self.files_base or self.base_url}/files/{name}"
            images.append({"url": url, "filename": name, "type": "output"})
        return {"node_id": "9", "data": {"images": images}}

    async def _set(self, run: FakeRun, status: str, progress: float, live: str | None) -> None:
        run.status, run.progress, run.live_status = status, progress, live
        key = "ended" if status in FINAL else "started" if status == "started" else "queued"
        run.times.setdefault(f"{key}_at", datetime.now(UTC).isoformat())
        if run.webhook and (run.intermediate or status in FINAL):
            body: dict[str, Any] = {"run_id": run.run_id, "status": status,
                                    "live_status": live, "progress": progress}
            if status == "success":
                body["outputs"] = run.outputs
            await self._send(run.webhook, json.dumps(body).encode())

    async def _send(self, url: str, body: bytes) -> None:
        self.webhooks.append((url, body))
        if self.drop_webhooks or self._session is None:
            return
        with contextlib.suppress(Exception):
            async with self._session.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()


class WebhookReceiver:
    """Our web route in miniature: ``POST /hooks/{token}`` → ``handler(token, body)``."""

    def __init__(self, handler: Callable[[str, bytes], Awaitable[None]]) -> None:
        self.handler = handler
        self.answers: list[int] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hooks/{token}", self._hook)
        self._runner, base_url = await _serve(app)
        return f"{base_url}/hooks"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        try:
            await self.handler(request.match_info["token"], await request.read())
            status = 200
        except Forbidden:
            status = 403
        except InvalidInput:
            status = 400
        self.answers.append(status)
        return web.Response(status=status)
