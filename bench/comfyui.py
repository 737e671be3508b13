"""ComfyUI engine: the latency StationThis adds per job, and the jobs one process keeps in flight.

    .venv/bin/python bench/comfyui.py [--jobs 50] [--latency-on real fake]
                                      [--inflight 1000 3000 10000] [--job-seconds 30]
                                      [--skip-latency] [--skip-inflight]

(1) Latency, against a REAL ComfyUI when one is installed (tests/support/comfyui.py starts
    one; run scripts/comfyui-setup first) and against the fake of (2) with jobs that finish at
    once (bench/comfyui_fake.py; no model, no queue: what is left is our own time). A trivial
    graph, EmptyImage 64×64 -> SaveImage, with a different colour every job so that ComfyUI's
    cache never answers. Sequential jobs, alternating between:
    - StationThis: ``MakeImage.make`` -> job row and hold -> queue -> our ComfyUI engine (the
      production one that ``bootstrap`` builds) -> result stored in the media store -> the
      ``JobSucceeded`` event seen on ``app.bus``;
    - a bare client in the same run: ``POST /prompt``, wait on an open websocket for
      ``executing {node: null}``, ``GET /view`` of the image the ``executed`` frame named,
      with the HTTP library our engine uses (aiohttp), so that the difference is our own
      work and not a choice of library (with httpx the bare client is ~1 ms slower here).
    Warm-up jobs first (not counted).

(2) Jobs in flight, against the fake ComfyUI (bench/comfyui_fake.py, in a process of its
    own so that the StationThis process's memory and CPU are its own) that runs every prompt
    concurrently and finishes each ``--job-seconds`` after it was queued. StationThis runs on
    SQLite with ``max_running`` and the per-user limit raised; K jobs are submitted, and while
    all are in flight (before the first can finish) we measure memory, CPU and the requests
    the fake receives. Silence (``comfyui_silence_seconds``, 10 s) is watched per server: one
    ``/queue`` read every 5 s covers every job that has been silent for 10 s; a job asks
    ``/history`` only when ``/queue`` no longer lists it or its socket dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.support.comfyui
sys.path.insert(0, str(REPO / "bench"))  # for comfyui_fake

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import websockets  # noqa: E402
from comfyui_fake import fake_comfyui  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from stationthis.bootstrap import build  # noqa: E402
from stationthis.config import Settings  # noqa: E402
from stationthis.core.events import Event, JobFailed, JobProgressed, JobSucceeded  # noqa: E402
from stationthis.core.queue import WakingQueue  # noqa: E402
from stationthis.core.schema import jobs as jobs_table  # noqa: E402
from stationthis.core.users import Identity  # noqa: E402
from stationthis.migrations import upgrade  # noqa: E402
from stationthis.workflows.app import App  # noqa: E402
from stationthis.workflows.make_image import Request  # noqa: E402

TOOL = "bench_blank"
SIZE = 64
WARMUP = 5
MAKERS = 16  # in-flight setup: jobs made at once (not timed as part of the run)


def graph(color: int, prefix: str = "bench") -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage",
              "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def write_tool(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = {
        "name": TOOL, "category": "txt2img", "description": "EmptyImage -> SaveImage",
        "graph": graph(0, "stationthis_bench"),
        "inputs": {
            "prompt": {"type": "str"},
            "width": {"type": "int", "node": "1", "field": "width", "default": SIZE},
            "height": {"type": "int", "node": "1", "field": "height", "default": SIZE},
            "color": {"type": "int", "node": "1", "field": "color", "default": 0},
        },
    }
    (folder / f"{TOOL}.json").write_text(json.dumps(tool))
    return folder


async def settings_in(tmp: Path, comfyui_url: str, **overrides: Any) -> Settings:
    db = tmp / "stationthis.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{db}")  # it runs its own loop
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp / "data", database_url=f"sqlite+aiosqlite:///{db}",
        tools_dir=write_tool(tmp / "tools"), comfyui_urls=comfyui_url,
        new_user_grant=10**12, **overrides,
    )


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Finished:
    """Futures resolved by JobSucceeded/JobFailed on the app's bus (the time it was seen)."""

    def __init__(self, app: App) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.succeeded = 0
        self.failed: list[str] = []
        self.started: set[str] = set()  # jobs whose first progress (running) was published
        self.first_at = 0.0
        self.last_at = 0.0
        app.bus.subscribe(self._on, JobSucceeded, JobFailed)
        app.bus.subscribe(self._on_progress, JobProgressed)

    async def _on_progress(self, event: Event) -> None:
        self.started.add(getattr(event, "job_id", ""))

    async def _on(self, event: Event) -> None:
        now = time.perf_counter()
        self.first_at = self.first_at or now
        self.last_at = now
        if isinstance(event, JobFailed):
            self.failed.append(event.error)
        else:
            self.succeeded += 1
        future = self.waiting.pop(getattr(event, "job_id", ""), None)
        if future is not None and not future.done():
            if isinstance(event, JobFailed):
                future.set_exception(RuntimeError(f"job failed: {event.error}"))
            else:
                future.set_result(now)

    def expect(self, job_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[job_id] = future
        return future


# ----- (1) latency against a real ComfyUI ------------------------------------------------

class BareClient:
    """What any program would do: one websocket, POST /prompt, wait, GET /view."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client_id = uuid.uuid4().hex
        self.http: aiohttp.ClientSession | None = None  # made in the running loop
        self.waiting: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        self.images: dict[str, list[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(self.url, timeout=aiohttp.ClientTimeout(total=60))
        ws_url = self.url.replace("http://", "ws://") + f"/ws?clientId={self.client_id}"
        self.ws = await websockets.connect(ws_url, max_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if isinstance(message, bytes):
                continue
            frame = json.loads(message)
            data = frame.get("data") or {}
            prompt_id = data.get("prompt_id")
            if frame["type"] == "executed":
                self.images.setdefault(prompt_id, []).extend(data["output"].get("images", []))
            elif frame["type"] == "executing" and data.get("node") is None:
                future = self.waiting.pop(prompt_id, None)
                if future is not None:
                    future.set_result(self.images.pop(prompt_id, []))

    async def run(self, color: int) -> float:
        began = time.perf_counter()
        prompt_id = str(uuid.uuid4())
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self.waiting[prompt_id] = future
        assert self.http is not None
        async with self.http.post("/prompt", json={
                "prompt": graph(color), "client_id": self.client_id,
                "prompt_id": prompt_id}) as reply:
            reply.raise_for_status()
            await reply.read()
        images = await asyncio.wait_for(future, 60)
        assert images, "ComfyUI reported no image"
        for image in images:
            async with self.http.get("/view", params={
                    "filename": image["filename"], "subfolder": image["subfolder"],
                    "type": image["type"]}) as view:
                view.raise_for_status()
                assert (await view.read()).startswith(b"\x89PNG")
        return time.perf_counter() - began

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.ws.close()
        if self.http is not None:
            await self.http.close()


@dataclass
class Latency:
    server: str  # what ran the jobs
    ours: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    startup_s: float = 0.0
    statements: str = ""  # the database work of one job (StatementCount)


@contextlib.contextmanager
def latency_server(kind: str) -> Iterator[tuple[str, str]]:
    """(description, URL) of a real ComfyUI (started here) or of the fake (jobs take 0 s)."""
    if kind == "fake":
        with fake_comfyui(0.0) as url:
            yield "the fake ComfyUI (bench/comfyui_fake.py), every job done at once", url
        return
    from tests.support.comfyui import NOT_INSTALLED, comfyui_installed, comfyui_server

    if not comfyui_installed():
        raise SystemExit(NOT_INSTALLED)
    with comfyui_server() as server:
        yield "a real ComfyUI 0.3.75 on CPU (loopback)", server.url


class StatementCount:
    """Statements and transactions of one job (SQLAlchemy's events; BEGIN, COMMIT and the
    writer's savepoints go straight to the driver and are counted as transactions)."""

    def __init__(self, app: App) -> None:
        self.engine = app.db.engine.sync_engine
        self.writer = app.db.writer
        self.statements: Counter[str] = Counter()
        self.reads = 0
        self.writes_before = self._writes()
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "begin", self._begin)

    def _writes(self) -> tuple[int, int]:
        if self.writer is None:
            return (0, 0)
        return (self.writer.stats.transactions, self.writer.stats.writes)

    def _statement(self, _conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        words = sql.split()
        self.statements[" ".join(words[:3] if words[0] in ("UPDATE", "INSERT") else words[:1])] += 1

    def _begin(self, conn: Any) -> None:
        if not conn.get_execution_options().get("stationthis_write"):
            self.reads += 1

    def stop(self) -> str:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "begin", self._begin)
        commits, writes = (a - b for a, b in zip(self._writes(), self.writes_before,
                                                  strict=True))
        total = sum(self.statements.values())
        detail = ", ".join(f"{k} {v}" for k, v in self.statements.most_common())
        return (f"{total} statements, {writes} write blocks in {commits} commits, "
                f"{self.reads} read transactions ({detail})")


async def latency(jobs: int, kind: str) -> Latency:
    colors = iter(range(1, 2**24))
    with tempfile.TemporaryDirectory() as tmp, latency_server(kind) as (name, url):
        result = Latency(name)
        app = build(await settings_in(Path(tmp), url))  # the production engine
        await app.start()
        await app.check_tools()  # what start() does in the background; done before timing
        finished = Finished(app)
        user = await app.users.resolve(Identity("bench", "latency"))
        bare = BareClient(url)
        await bare.start()

        async def ours() -> float:
            began = time.perf_counter()
            job = await app.make_image.make(user, Request(TOOL, {
                "prompt": "bench", "color": next(colors)}))
            try:
                seen = await asyncio.wait_for(finished.expect(job.id), 60)
            except TimeoutError:
                row = await app.jobs.get(job.id)
                raise SystemExit(f"job {job.id} not finished after 60 s: {row.state}, "
                                 f"progress {row.progress}, error {row.error}") from None
            return seen - began

        try:
            for _ in range(WARMUP):
                await ours()
                await bare.run(next(colors))
            counts = StatementCount(app)
            await ours()  # one job, counted alone: the database work on its path
            result.statements = counts.stop()
            for _ in range(jobs):  # alternating, so that drift hits both alike
                result.ours.append(await ours())
                result.bare.append(await bare.run(next(colors)))
        finally:
            await bare.close()
            await app.stop()
    return result


def print_latency(result: Latency) -> None:
    print(f"(1) latency per job against {result.server}, "
          f"{len(result.ours)} sequential jobs each, after {WARMUP} warm-up jobs; "
          f"EmptyImage {SIZE}×{SIZE} -> SaveImage\n")
    head = f"{'path':<44} | {'p50 ms':>7} | {'p99 ms':>7} | {'mean ms':>7} | {'min ms':>7}"
    print(head)
    print("-" * len(head))
    rows = [("StationThis: make -> JobSucceeded on the bus", result.ours),
            ("bare client: POST /prompt + ws + GET /view", result.bare)]
    for name, values in rows:
        ms = [v * 1000 for v in values]
        print(f"{name:<44} | {pct(ms, .5):>7.1f} | {pct(ms, .99):>7.1f} | "
              f"{statistics.fmean(ms):>7.1f} | {min(ms):>7.1f}")
    ours = [v * 1000 for v in result.ours]
    bare = [v * 1000 for v in result.bare]
    print(f"{'added by StationThis (difference)':<44} | {pct(ours, .5) - pct(bare, .5):>7.1f} | "
          f"{pct(ours, .99) - pct(bare, .99):>7.1f} | "
          f"{statistics.fmean(ours) - statistics.fmean(bare):>7.1f} | "
          f"{min(ours) - min(bare):>7.1f}")
    print(f"\none job's database work: {result.statements}")
    print("\np50/p99: median and 99th percentile of the time from the call to the image being"
          "\nready for the user (ours: stored, JobSucceeded published; bare: PNG bytes fetched)."
          "\nThe difference row subtracts the bare client's figure from ours, column by column."
          "\nOurs adds: the job row + points hold, the queue, the engine's socket router,"
          "\nstoring the image (header check, text chunks spliced in, media row), settling the"
          "\npoints and publishing JobSucceeded. Both paths fetch the image with GET /view.\n")


class Errors(logging.Handler):
    """Counts what is logged at ERROR (a crashed job, a task that raised) and keeps samples;
    the tracebacks are not printed, the table says how many there were."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text = f"{type(error).__module__}.{type(error).__name__}: {str(error)[:160]}"
        if len(self.samples) < 3 and text not in self.samples:
            self.samples.append(text)


ERRORS = Errors()


@dataclass
class InFlight:
    jobs: int
    make_s: float = float("nan")  # making the K jobs (no worker running)
    accepted_s: float = float("nan")  # all K accepted by the fake (POST /prompt)
    started_s: float = float("nan")  # all K recorded as running with their first progress
    max_in_flight: int = 0
    rss_before: float = float("nan")
    rss_during: float = float("nan")
    cpu_pct: float = float("nan")  # our process, while all jobs wait
    window_s: float = 0.0
    req_per_s: float = float("nan")
    by_route: dict[str, float] = field(default_factory=dict)
    fake_cpu_pct: float = float("nan")
    done_s: float = float("nan")  # from the process's start until every job finished
    drain_per_s: float = float("nan")  # finished jobs per second once they finish
    succeeded: int = 0
    failed: int = 0
    errors: int = 0
    states: dict[str, int] = field(default_factory=dict)  # job rows by state at the end
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kb_per_job(self) -> float:
        return (self.rss_during - self.rss_before) * 1024 / self.jobs

    @property
    def broke(self) -> bool:
        return bool(self.failed or self.errors or self.succeeded < self.jobs)


class HeldQueue(WakingQueue):
    """A job queue that runs nothing: jobs made through it wait in the database."""

    async def enqueue(self, job_id: str) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def in_flight(jobs: int, job_seconds: float, limit_s: float) -> InFlight:
    """K jobs made while no worker runs, then one StationThis process started over them
    (``App.start`` re-queues every unfinished job): all K go to the fake as fast as the
    process can send them, so the in-flight state is reached even when making K jobs one by
    one takes longer than a job runs."""
    result = InFlight(jobs)
    with tempfile.TemporaryDirectory() as tmp, fake_comfyui(job_seconds) as url, \
            httpx.Client(base_url=url, timeout=30) as probe:
        per_user = 1000  # the highest max_queued_per_user the settings allow
        settings = await settings_in(Path(tmp), url, max_running=min(10_000, jobs + 16),
                                     max_queued_per_user=per_user)
        maker = build(settings, queue=HeldQueue())
        await maker.start()
        users = [await maker.users.resolve(Identity("bench", f"u{i}"))
                 for i in range(math.ceil(jobs / per_user))]
        began = time.perf_counter()

        async def make(i: int) -> None:
            await maker.make_image.make(users[i % len(users)], Request(TOOL, {
                "prompt": "bench", "color": i}))

        for first in range(0, jobs, MAKERS):  # MAKERS at a time: only the setup, not timed
            await asyncio.gather(*(make(i) for i in range(first, min(jobs, first + MAKERS))))
        result.make_s = time.perf_counter() - began
        await maker.stop()

        async def stats() -> dict[str, Any]:
            data: dict[str, Any] = (await asyncio.to_thread(probe.get, "/_stats")).json()
            return data

        app = build(settings)  # the production engine: silence 10 s, as bootstrap builds it
        finished = Finished(app)
        ERRORS.count, ERRORS.samples = 0, []
        try:
            gc.collect()
            result.rss_before = rss_mb()
            began = time.perf_counter()
            deadline = began + limit_s
            first_done_at = began + job_seconds  # no prompt can finish before this
            await app.start()  # re-queues the K unfinished jobs
            while len(finished.started) < jobs:
                now = await stats()
                if now["accepted"] >= jobs and math.isnan(result.accepted_s):
                    result.accepted_s = time.perf_counter() - began
                if time.perf_counter() > deadline or ERRORS.count or finished.failed:
                    result.notes.append(f"{now['accepted']} of {jobs} reached the server, "
                                        f"{len(finished.started)} were seen running")
                    break
                await asyncio.sleep(0.1)
            else:
                result.started_s = time.perf_counter() - began
                if math.isnan(result.accepted_s):
                    result.accepted_s = result.started_s
            # The steady state: every job running, none finished yet.
            window = first_done_at - 1.0 - time.perf_counter()
            result.rss_during = rss_mb()
            if window >= 2.0 and not math.isnan(result.started_s):
                before, cpu0, wall0 = await stats(), cpu_s(), time.perf_counter()
                await asyncio.sleep(window)
                after, cpu1, wall1 = await stats(), cpu_s(), time.perf_counter()
                result.rss_during = max(result.rss_during, rss_mb())
                result.window_s = wall1 - wall0
                result.cpu_pct = 100 * (cpu1 - cpu0) / result.window_s
                result.fake_cpu_pct = 100 * (after["cpu_s"] - before["cpu_s"]) / result.window_s
                counted = Counter(after["counts"])
                counted.subtract(before["counts"])
                counted.pop("GET /_stats", None)  # ours, not StationThis's
                result.req_per_s = sum(counted.values()) / result.window_s
                result.by_route = {k: v / result.window_s for k, v in counted.items() if v}
            elif not math.isnan(result.started_s):
                result.notes.append(
                    f"getting all {jobs} running took {result.started_s:.0f} s of the "
                    f"{job_seconds:g} s jobs: no window with all of them in flight")
            stalled_since, last_count = time.perf_counter(), -1
            while (count := finished.succeeded + len(finished.failed)) < jobs:
                now_t = time.perf_counter()
                if count != last_count:
                    stalled_since, last_count = now_t, count
                if now_t > deadline or (ERRORS.count and now_t - stalled_since > 5):
                    result.notes.append(f"stopped waiting after {now_t - began:.0f} s")
                    break
                await asyncio.sleep(0.25)
            else:
                result.done_s = finished.last_at - began
                if finished.last_at > finished.first_at:
                    result.drain_per_s = jobs / (finished.last_at - finished.first_at)
            result.max_in_flight = int((await stats())["max_running"])
            async with app.db.read() as conn:
                rows = await conn.execute(
                    select(jobs_table.c.state, func.count()).group_by(jobs_table.c.state))
                result.states = {str(state): int(n) for state, n in rows.all()}
        finally:
            result.succeeded, result.failed = finished.succeeded, len(finished.failed)
            result.failures = sorted(set(finished.failed))[:3]
            with contextlib.suppress(Exception):
                await asyncio.wait_for(app.stop(), 30)
            result.errors = ERRORS.count
            result.failures += [f"logged: {sample}" for sample in ERRORS.samples]
    return result


def print_in_flight(results: list[InFlight], job_seconds: float) -> None:
    print(f"(2) jobs in flight in one StationThis process (SQLite, the production ComfyUI "
          f"engine) against a fake ComfyUI that runs every prompt at once for "
          f"{job_seconds:g} s\n")
    head = (f"{'jobs':>5} | {'make s':>6} | {'queued s':>8} | {'running s':>9} | "
            f"{'in flight':>9} | {'RSS MB':>11} | {'KB/job':>6} | {'CPU %':>5} | "
            f"{'req/s':>5} | {'/queue/s':>8} | {'/history/s':>10} | {'fake CPU %':>10} | "
            f"{'done s':>6} | {'drain/s':>7} | {'ok':>5} | {'failed':>6} | {'errors':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        rss = f"{r.rss_before:.0f} -> {r.rss_during:.0f}"
        queue = r.by_route.get("GET /queue", 0.0) if r.window_s else float("nan")
        hist = r.by_route.get("GET /history/{prompt_id}", 0.0) if r.window_s else float("nan")
        print(f"{r.jobs:>5} | {r.make_s:>6.1f} | {r.accepted_s:>8.1f} | {r.started_s:>9.1f} | "
              f"{r.max_in_flight:>9} | {rss:>11} | {r.kb_per_job:>6.1f} | {r.cpu_pct:>5.0f} | "
              f"{r.req_per_s:>5.1f} | {queue:>8.1f} | {hist:>10.1f} | {r.fake_cpu_pct:>10.0f} | "
              f"{r.done_s:>6.1f} | {r.drain_per_s:>7.1f} | {r.succeeded:>5} | {r.failed:>6} | "
              f"{r.errors:>6}")
        for note in r.notes:
            print(f"      note: {note}")
        if r.states and r.states != {"succeeded": r.jobs}:
            states = ", ".join(f"{n} {state}" for state, n in sorted(r.states.items()))
            print(f"      job rows when we stopped waiting: {states}")
        for failure in r.failures:
            print(f"      error: {failure}")
    print(f"""
jobs: K made one after another through MakeImage.make (job row + points hold each) while
  no worker ran; then a StationThis process starts over them and App.start re-queues all.
make s: time to make the K jobs, MAKERS at a time (setup, apart from running them).
queued s: from that process's start until the fake had accepted all K (POST /prompt).
running s: ... until every job was recorded running with its first progress (our side of
  the submission done). in flight: the most prompts the fake held at once.
RSS MB: resident memory of the StationThis process before its start -> with all K in
  flight; KB/job = the difference / K.
CPU %: CPU time of the StationThis process / wall time over the window in which all K
  were running and none had finished (100 % = one core); req/s, /queue/s, /history/s:
  requests per second the fake received from StationThis in that window (all routes, then
  the two that silence polling uses). fake CPU %: the fake's own CPU in that window.
done s: from the process's start until the last JobSucceeded/JobFailed was seen (ideal:
  {job_seconds:g} s + queued s). drain/s: jobs finished per second from the first finish
  to the last. ok/failed: JobSucceeded/JobFailed seen; errors: records logged at ERROR
  (a job whose runner task raised stays queued, unseen by the bus).""")


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR, handlers=[ERRORS])
    print(f"ComfyUI engine bench, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}\n")
    if not args.skip_latency:
        for kind in args.latency_on:
            print_latency(await latency(args.jobs, kind))
    if not args.skip_inflight:
        results = []
        for jobs in args.inflight:
            result = await in_flight(jobs, args.job_seconds, args.job_seconds + 90)
            results.append(result)
            if result.broke:
                break  # something broke: a larger K would only break harder
        print_in_flight(results, args.job_seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50, help="latency: jobs per path")
    parser.add_argument("--latency-on", nargs="+", choices=["real", "fake"],
                        default=["real", "fake"], help="latency: which servers, in order")
    parser.add_argument("--inflight", type=int, nargs="+", default=[1000, 3000, 10000],
                        help="in flight: numbers of jobs to try, in order")
    parser.add_argument("--job-seconds", type=float, default=30.0,
                        help="in flight: how long the fake takes per prompt")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-inflight", action="store_true")
    asyncio.run(main(parser.parse_args()))
