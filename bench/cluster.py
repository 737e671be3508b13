"""Many processes: end-to-end jobs/s with 1, 2 and 4 workers beside the embedded single
process, and the jobs one worker keeps in flight with the memory each costs.

    .venv/bin/python bench/cluster.py [--jobs 240] [--job-seconds 1] [--slots 8]
                                      [--workers 1 2 4] [--inflight 1000 10000]
                                      [--inflight-seconds 30] [--skip-scaling]
                                      [--skip-inflight]

Every StationThis process is a real one, started from the installed ``stationthis`` script
(tests/cluster/processes.py). The engine is the ComfyUI engine against the fake ComfyUI of
bench/comfyui.py (its own process; every prompt runs at once and ends a fixed time after it
was queued), so a job's time is fixed and the figures show what StationThis adds.

(1) Scaling. For each setup, a fresh database; ``--jobs`` jobs are made through the REST API
    (``POST /api/v1/jobs``, 16 at a time, from 8 users with API keys) as fast as it takes
    them; jobs/s = jobs / (first request → last job finished, read from the database).
    - embedded: ``stationthis serve`` (the default: SQLite, no Redis), ``--slots`` jobs at
      once; and the same on PostgreSQL;
    - cluster: ``serve --web-only`` + N ``stationthis worker`` (PostgreSQL + Redis), each
      with ``--slots`` jobs at once.
    The ceiling of a setup is slots × processes / job time. Scaling efficiency of N workers
    = jobs/s(N) / (N × jobs/s(1 worker)).

(2) In flight. One ``stationthis worker --slots K`` on PostgreSQL and a fake ComfyUI with
    ``--inflight-seconds`` jobs. Its RSS is read when it is idle; it is then paused
    (SIGSTOP) while K jobs are made straight through the workflows in this process, and
    resumed: it claims all K at once. RSS is read again when all K are running (the fake
    holds them all); KB/job = the difference / K. Target: ≥ 10,000 jobs, ≤ 20 KB each.

All processes share this machine's cores with the fake and this driver: compare rows of one
run, not runs on different machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.support, tests.cluster
sys.path.insert(0, str(REPO / "bench"))  # comfyui.py: the fake ComfyUI and its tool

import httpx  # noqa: E402
from comfyui import TOOL, HeldQueue, fake_comfyui, write_tool  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from tests.cluster.processes import (  # noqa: E402
    STATIONTHIS,
    Proc,
    clean_env,
    wait_healthy,
    wait_started,
    web_node,
    worker,
)
from tests.support.postgres import postgres_server  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

from stationthis.bootstrap import build  # noqa: E402
from stationthis.config import Settings  # noqa: E402
from stationthis.core.users import Identity  # noqa: E402
from stationthis.workflows.make_image import Request  # noqa: E402

USERS = 8
CONCURRENCY = 16
SECRET = "bench-cluster-secret-shared-by-every-process"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Databases:
    """Fresh PostgreSQL databases on one server, migrated with ``stationthis db upgrade``."""

    def __init__(self, server_url: str) -> None:
        self.base = server_url.rpartition("/")[0]
        self.count = 0

    async def new(self) -> str:
        import asyncpg

        self.count += 1
        name = f"bench_{os.getpid()}_{self.count}"
        dsn = self.base.replace("postgresql+asyncpg", "postgresql") + "/postgres"
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = f"{self.base}/{name}"
        await upgrade(url)
        return url


async def upgrade(url: str) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [str(STATIONTHIS), "db", "upgrade"], capture_output=True, text=True,
        env=clean_env({"STATIONTHIS_DATABASE_URL": url, "STATIONTHIS_SECRET_KEY": SECRET}))
    if done.returncode != 0:
        raise RuntimeError(f"db upgrade failed: {done.stderr}")


def common_env(tmp: Path, fake_url: str, **more: str) -> dict[str, str]:
    return clean_env({
        "STATIONTHIS_DATA_DIR": str(tmp / "data"), "STATIONTHIS_SECRET_KEY": SECRET,
        "STATIONTHIS_ENGINE": "comfyui", "STATIONTHIS_COMFYUI_URLS": fake_url,
        "STATIONTHIS_TOOLS_DIR": str(write_tool(tmp / "tools")),
        "STATIONTHIS_MAX_QUEUED_PER_USER": "1000", "STATIONTHIS_NEW_USER_GRANT": str(10**12),
        "STATIONTHIS_WEB__SIGNUPS_PER_HOUR": "1000", "STATIONTHIS_LOG_LEVEL": "WARNING",
        **more,
    })


# ----- (1) scaling ---------------------------------------------------------------------------

@dataclass
class Scaling:
    setup: str
    processes: int
    slots: int
    jobs: int
    seconds: float = float("nan")
    accept_s: float = float("nan")  # until the last POST was answered
    succeeded: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds else float("nan")


async def _users(base: str) -> list[httpx.AsyncClient]:
    clients = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as browser:
        for n in range(USERS):
            browser.cookies.clear()
            me = await browser.post("/api/v1/auth/signup", json={
                "username": f"bench{n}", "password": "bench password 1"})
            me.raise_for_status()
            key = await browser.post("/api/v1/account/keys", json={"name": "bench"},
                                     headers={"X-CSRF-Token": me.json()["csrf_token"]})
            key.raise_for_status()
            clients.append(httpx.AsyncClient(
                base_url=base, timeout=60, limits=httpx.Limits(keepalive_expiry=2.0),
                headers={"Authorization": f"Bearer {key.json()['key']}"}))
    return clients


async def scaling(setup: str, workers: int, args: argparse.Namespace, tmp: Path,
                  fake_url: str, databases: Databases, redis: RedisServer) -> Scaling:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = tmp / f"logs-{setup}-{workers}"
    more = {"STATIONTHIS_MAX_RUNNING": str(args.slots)}
    if setup == "embedded (SQLite)":
        db_url = f"sqlite+aiosqlite:///{tmp / f'embedded-{time.time_ns()}.db'}"
        more["STATIONTHIS_DATABASE_URL"] = db_url
    else:
        db_url = await databases.new()
        more["STATIONTHIS_DATABASE_URL"] = db_url
        if setup == "cluster":
            more["STATIONTHIS_REDIS_URL"] = redis.url
    env = common_env(tmp, fake_url, **more)
    procs: list[Proc] = []
    result = Scaling(setup, max(workers, 1), args.slots, args.jobs)
    db = create_async_engine(db_url)
    clients: list[httpx.AsyncClient] = []
    try:
        if setup == "cluster":
            procs.append(web_node(env, logs, port))
            procs += [worker(env, logs, n) for n in range(1, workers + 1)]
        else:
            procs.append(Proc("serve", ["serve", "--port", str(port)], env, logs))
        await asyncio.to_thread(wait_healthy, procs[0], base)
        for proc in procs[1:]:
            await asyncio.to_thread(wait_started, proc)
        clients = await _users(base)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def post(i: int) -> None:
            async with gate:
                answer = await clients[i % len(clients)].post("/api/v1/jobs", json={
                    "tool": TOOL, "options": {"prompt": "bench", "color": i}})
                answer.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(args.jobs)))
        result.accept_s = time.perf_counter() - began
        deadline = began + args.jobs * args.job_seconds + 120
        while True:
            async with db.connect() as conn:
                done = dict((await conn.execute(text(
                    "SELECT state, count(*) FROM jobs WHERE state IN "
                    "('succeeded','failed','cancelled') GROUP BY state"))).all())
            if sum(done.values()) >= args.jobs:
                result.seconds = time.perf_counter() - began
                result.succeeded = int(done.get("succeeded", 0))
                break
            if time.perf_counter() > deadline:
                result.notes.append(f"stopped waiting: {done}")
                break
            await asyncio.sleep(0.05)
    finally:
        for client in clients:
            await client.aclose()
        for proc in reversed(procs):
            await asyncio.to_thread(proc.stop, 30)
        await db.dispose()
    return result


def print_scaling(rows: list[Scaling], job_seconds: float) -> None:
    print(f"(1) end-to-end jobs/s, fake ComfyUI with {job_seconds:g} s per job\n")
    one = next((r.per_s for r in rows if r.setup == "cluster" and r.processes == 1), math.nan)
    head = (f"{'setup':<22} | {'procs':>5} | {'slots':>5} | {'jobs':>5} | {'accept s':>8} | "
            f"{'total s':>7} | {'jobs/s':>6} | {'ceiling':>7} | {'of ceiling':>10} | "
            f"{'scaling':>7} | {'ok':>4}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ceiling = r.slots * r.processes / job_seconds
        scale = (f"{r.per_s / (r.processes * one):.2f}" if r.setup == "cluster"
                 and not math.isnan(one) else "")
        print(f"{r.setup:<22} | {r.processes:>5} | {r.slots:>5} | {r.jobs:>5} | "
              f"{r.accept_s:>8.1f} | {r.seconds:>7.1f} | {r.per_s:>6.1f} | {ceiling:>7.1f} | "
              f"{100 * r.per_s / ceiling:>9.0f}% | {scale:>7} | {r.succeeded:>4}")
        for note in r.notes:
            print(f"      note: {note}")
    print("""
procs: processes that run jobs (the cluster also has one web node). ceiling: slots ×
procs / job time. scaling: jobs/s ÷ (workers × jobs/s of 1 worker); 1.00 is linear.
accept s: until the web node had answered every POST (16 at a time).""")


# ----- (2) jobs in flight in one worker ------------------------------------------------------

@dataclass
class InFlight:
    jobs: int
    make_s: float = float("nan")
    claimed_s: float = float("nan")  # SIGCONT → all K leased by the worker
    running_s: float = float("nan")  # SIGCONT → all K running (accepted by the fake)
    in_flight: int = 0
    rss_idle: float = float("nan")
    rss_full: float = float("nan")
    cpu_pct: float = float("nan")
    succeeded: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def kb_per_job(self) -> float:
        return (self.rss_full - self.rss_idle) * 1024 / self.jobs


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def in_flight(k: int, args: argparse.Namespace, tmp: Path, fake_url: str,
                    databases: Databases, redis: RedisServer) -> InFlight:
    result = InFlight(k)
    db_url = await databases.new()
    env = common_env(tmp, fake_url, STATIONTHIS_DATABASE_URL=db_url,
                     STATIONTHIS_REDIS_URL=redis.url, STATIONTHIS_MAX_RUNNING=str(k))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp / "data", database_url=db_url, secret_key=SECRET, engine="comfyui",
        comfyui_urls=fake_url, tools_dir=tmp / "tools", max_queued_per_user=1000,
        new_user_grant=10**12,
    )
    maker = build(settings, queue=HeldQueue())
    await maker.start(resume=False)
    db = create_async_engine(db_url)
    proc = worker(env, tmp / f"logs-inflight-{k}", 1, slots=k)
    try:
        await asyncio.to_thread(wait_started, proc)
        await asyncio.sleep(2.0)
        result.rss_idle = rss_mb(proc.pid)
        proc.signal(signal.SIGSTOP)
        users = [await maker.users.resolve(Identity("bench", f"inflight{i}"))
                 for i in range(math.ceil(k / 1000))]
        began = time.perf_counter()
        for start in range(0, k, 50):
            await asyncio.gather(*(maker.make_image.make(users[i % len(users)], Request(
                TOOL, {"prompt": "bench", "color": i})) for i in range(start, min(k, start + 50))))
        result.make_s = time.perf_counter() - began
        proc.signal(signal.SIGCONT)
        began, cpu0 = time.perf_counter(), cpu_s(proc.pid)
        deadline = began + args.inflight_seconds - 1
        while time.perf_counter() < deadline:
            async with db.connect() as conn:
                leased, running = (await conn.execute(text(
                    "SELECT count(lease_owner), count(*) FILTER (WHERE state = 'running') "
                    "FROM jobs WHERE state IN ('queued','running')"))).one()
            result.in_flight = max(result.in_flight, int(running))
            result.rss_full = max(result.rss_full, rss_mb(proc.pid)) if not math.isnan(
                result.rss_full) else rss_mb(proc.pid)
            if leased >= k and math.isnan(result.claimed_s):
                result.claimed_s = time.perf_counter() - began
            if running >= k:
                result.running_s = time.perf_counter() - began
                break
            if not proc.alive():
                result.notes.append(f"the worker exited:\n{proc.output()[-2000:]}")
                break
            await asyncio.sleep(0.25)
        else:
            result.notes.append(f"{result.in_flight} of {k} running after "
                                f"{args.inflight_seconds - 1:.0f} s")
        result.cpu_pct = 100 * (cpu_s(proc.pid) - cpu0) / (time.perf_counter() - began)
        await asyncio.sleep(1.0)
        result.rss_full = max(result.rss_full, rss_mb(proc.pid))
        finish_by = time.perf_counter() + args.inflight_seconds + 120
        while time.perf_counter() < finish_by and proc.alive():
            async with db.connect() as conn:
                states = dict((await conn.execute(text(
                    "SELECT state, count(*) FROM jobs GROUP BY state"))).all())
                result.succeeded = int(states.get("succeeded", 0))
                result.failed = int(states.get("failed", 0))
                left = int((await conn.execute(text(
                    "SELECT count(*) FROM jobs WHERE state IN "
                    "('queued','preparing','running','uploading')"))).scalar_one())
            if not left:
                break
            await asyncio.sleep(1.0)
    finally:
        await asyncio.to_thread(proc.stop, 60)
        await maker.stop()
        await db.dispose()
    return result


def print_in_flight(rows: list[InFlight], job_seconds: float) -> None:
    print(f"\n(2) jobs in flight in one `stationthis worker` (PostgreSQL + Redis), fake ComfyUI "
          f"with {job_seconds:g} s per job\n")
    head = (f"{'jobs':>6} | {'make s':>6} | {'claimed s':>9} | {'running s':>9} | "
            f"{'in flight':>9} | {'RSS MB':>13} | {'KB/job':>6} | {'CPU %':>5} | {'ok':>6} | "
            f"{'failed':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        rss = f"{r.rss_idle:.0f} -> {r.rss_full:.0f}"
        print(f"{r.jobs:>6} | {r.make_s:>6.1f} | {r.claimed_s:>9.1f} | {r.running_s:>9.1f} | "
              f"{r.in_flight:>9} | {rss:>13} | {r.kb_per_job:>6.1f} | {r.cpu_pct:>5.0f} | "
              f"{r.succeeded:>6} | {r.failed:>6}")
        for note in r.notes:
            print(f"      note: {note}")
    print("""
make s: making the K jobs here while the worker is paused. claimed s / running s: from
SIGCONT until the worker held all K leases / all K were running on the fake. RSS: the
worker idle -> with all K in flight; KB/job = the difference / K. CPU %: the worker's CPU
from SIGCONT until all were running (100 % = one core). ok / failed: jobs that succeeded /
failed when we stopped waiting (at most the job time + 120 s after the in-flight phase).""")


@contextlib.contextmanager
def services() -> Iterator[tuple[str, RedisServer]]:
    with postgres_server() as pg_url, RedisServer() as redis:
        yield pg_url, redis


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("stationthis").setLevel(logging.ERROR)  # this process's maker app
    print(f"Cluster bench, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}\n")
    with services() as (pg_url, redis), tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        databases = Databases(pg_url)
        if not args.skip_scaling:
            rows: list[Scaling] = []
            with fake_comfyui(args.job_seconds) as fake_url:
                for setup in ("embedded (SQLite)", "embedded (PostgreSQL)"):
                    rows.append(await scaling(setup, 0, args, tmp, fake_url, databases, redis))
                for n in args.workers:
                    rows.append(await scaling("cluster", n, args, tmp, fake_url, databases,
                                              redis))
            print_scaling(rows, args.job_seconds)
        if not args.skip_inflight:
            results: list[InFlight] = []
            with fake_comfyui(args.inflight_seconds) as fake_url:
                for k in args.inflight:
                    result = await in_flight(k, args, tmp, fake_url, databases, redis)
                    results.append(result)
                    if result.notes:
                        break
            print_in_flight(results, args.inflight_seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=240, help="scaling: jobs per setup")
    parser.add_argument("--job-seconds", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=8, help="scaling: jobs per process")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--inflight", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--inflight-seconds", type=float, default=30.0)
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-inflight", action="store_true")
    asyncio.run(main(parser.parse_args()))
