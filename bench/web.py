"""REST API throughput and latency under 50 concurrent clients, each route beside a bare
FastAPI baseline measured in the same run, on SQLite and on PostgreSQL.

Run: ``.venv/bin/python bench/web.py [--requests 2000] [--backend sqlite postgres]``
(``--requests 400`` for a quicker, noisier run).

A child process serves, with uvicorn on free loopback ports, both the StationThis web app
(the preview engine; SQLite in a temporary folder, or a throwaway PostgreSQL server from
``tests/support/postgres.py``) and a bare ``FastAPI()`` app. The parent drives them with 50
concurrent ``httpx`` clients over real HTTP (keep-alive, one connection per client); each
client is its own user with an API key. Measured, one pair after the other (the GET pair in
four alternating rounds, so that a change in the machine's load hits both alike):

- ``POST /bare`` on the bare app: parses the same JSON body and runs ONE ``INSERT``
  transaction through the app's own ``Database.write()`` (same database, same SQLite writer
  or PostgreSQL pool); the baseline for
- ``POST /api/v1/jobs``: a 64×64 ``make`` job with the preview engine: key lookup, tool
  resolution, settings, quote, the ledger hold, the job row and outbox, queueing. The
  engine renders the queued jobs meanwhile, in the same server process;
- ``GET /bare`` on the bare app: a constant JSON object (uvicorn + FastAPI + JSON, nothing
  else); the baseline for
- ``GET /api/v1/jobs`` (after those jobs have finished): key lookup, the user's 20 newest
  jobs, serialisation;
- ``GET /bench/noop``: a constant route added to the StationThis app, beside ``GET /bare``
  again: what the app's middleware stack (request ids, security headers, body limits, text
  guard, error handling) costs every route before it does anything.

Client and server share this machine's cores: the numbers are for comparing rows of one run
(the ratio column), and the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.support.postgres

CLIENTS = 50
BENCH_TABLE = "bench_inserts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data_dir: str, db_url: str, app_port: int, bare_port: int,
          role: str = "embedded") -> None:
    """The server process: our app and the bare app, one event loop."""
    from typing import Any

    import uvicorn
    from fastapi import Body, FastAPI
    from sqlalchemy import text

    from stationthis.bootstrap import build
    from stationthis.config import Settings
    from stationthis.core.db import new_id, utcnow
    from stationthis.platforms.web.app import create_app

    settings = Settings(
        data_dir=Path(data_dir), database_url=db_url, engine="preview",
        max_queued_per_user=1000, web={"signups_per_hour": 10_000},
        secret_key="bench-secret-shared-by-no-one-else",
        allowance={"amount": 10**12, "interval_seconds": 4_000_000_000},
        _env_file=None,  # type: ignore[call-arg]
    )
    station = build(settings, role=role)
    db = station.db  # the bare POST writes through the app's own Database
    insert = text(f"INSERT INTO {BENCH_TABLE} (id, body, created_at) "
                  "VALUES (:id, :body, :created_at)")
    bare = FastAPI()

    @bare.get("/bare")
    async def bare_get() -> dict[str, bool]:
        return {"ok": True}

    @bare.post("/bare", status_code=202)
    async def bare_post(body: dict[str, Any] = Body()) -> dict[str, str]:
        row_id = new_id()
        async with db.write() as conn:
            await conn.execute(insert, {"id": row_id, "body": str(body),
                                        "created_at": utcnow()})
        return {"id": row_id}

    async def main() -> None:
        async with db.write() as conn:
            await conn.execute(text(
                f"CREATE TABLE IF NOT EXISTS {BENCH_TABLE} (id VARCHAR(32) PRIMARY KEY, "
                "body TEXT NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL)"))
        ours = create_app(station)

        @ours.get("/bench/noop")
        async def noop() -> dict[str, bool]:  # our middleware stack, no work
            return {"ok": True}

        servers = [
            uvicorn.Server(uvicorn.Config(ours, host="127.0.0.1",
                                          port=app_port, log_level="warning")),
            uvicorn.Server(uvicorn.Config(bare, host="127.0.0.1", port=bare_port,
                                          log_level="warning")),
        ]
        print(f"server pid {os.getpid()}", file=sys.stderr, flush=True)
        await asyncio.gather(*(s.serve() for s in servers))

    asyncio.run(main())


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"the server at {url} did not start")


async def make_users(base: str) -> list[str]:
    """CLIENTS users signed up through the API, each with an API key."""
    async def one(n: int) -> str:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            me = await client.post("/api/v1/auth/signup",
                                   json={"username": f"bench{n}", "password": "bench-password"})
            me.raise_for_status()
            made = await client.post("/api/v1/account/keys", json={"name": "bench"},
                                     headers={"X-CSRF-Token": me.json()["csrf_token"]})
            made.raise_for_status()
            return str(made.json()["key"])

    keys = []
    for start in range(0, CLIENTS, 10):  # scrypt is deliberately slow: 10 at a time
        keys += await asyncio.gather(*(one(n) for n in range(start, start + 10)))
    return keys


Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def measure(base: str, keys: list[str], call: Call, total: int
                  ) -> tuple[float, list[float], int]:
    """``total`` requests spread over CLIENTS concurrent clients: (req/s, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def client_loop(key: str) -> None:
        nonlocal remaining, errors
        headers = {"Authorization": f"Bearer {key}"}
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60,
                                     limits=limits) as client:
            await client.get("/api/v1/health")  # open the connection before timing
            await ready.wait()
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                answer = await call(client)
                latencies.append(time.perf_counter() - started)
                if answer.status_code >= 400:
                    errors += 1

    ready = asyncio.Event()
    tasks = [asyncio.create_task(client_loop(k)) for k in keys]
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    return total / (time.perf_counter() - started), latencies, errors


async def drained(base: str, keys: list[str]) -> None:
    """Wait until every user's jobs have finished."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for key in keys:
            while (await client.get("/api/v1/jobs", params={"state": "active"}, headers={
                    "Authorization": f"Bearer {key}"})).json()["jobs"]:
                await asyncio.sleep(0.5)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


Row = tuple[str, str, Call]  # name, base URL, request
ROUNDS = 4


async def pair(baseline: Row, row: Row, keys: list[str], total: int, rounds: int) -> None:
    """Measure ``baseline`` and ``row`` with ``total`` requests each, in ``rounds`` alternating
    slices; print both and their ratio."""
    seconds = {baseline[0]: 0.0, row[0]: 0.0}
    latencies: dict[str, list[float]] = {baseline[0]: [], row[0]: []}
    errors = {baseline[0]: 0, row[0]: 0}
    for _ in range(rounds):
        for name, url, call in (baseline, row):
            rate, lat, failed = await measure(url, keys, call, total // rounds)
            seconds[name] += (total // rounds) / rate
            latencies[name] += lat
            errors[name] += failed
    rates = {name: (total // rounds) * rounds / s for name, s in seconds.items()}
    for name in (baseline[0], row[0]):
        lat = latencies[name]
        ratio = "base" if name == baseline[0] else f"{rates[name] / rates[baseline[0]]:.2f}×"
        print(f"| {name:<30} | {len(lat):>8} | {rates[name]:>6.0f} | "
              f"{statistics.median(lat) * 1000:>6.1f} | {p99(lat) * 1000:>6.1f} | "
              f"{errors[name]:>6} | {ratio:>5} |", flush=True)


@contextmanager
def database(backend: str, data: str) -> Iterator[str]:
    """The database URL for one backend (PostgreSQL: a throwaway server for this run)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{Path(data) / 'stationthis.db'}"
        return
    from tests.support.postgres import pg_available, postgres_server

    if not pg_available():
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


JOB = {"tool": "make", "options": {"prompt": "a red fox", "width": 64, "height": 64,
                                   "steps": 4}}


async def bench_backend(backend: str, requests: int, role: str = "embedded") -> None:
    from stationthis.migrations import upgrade

    app_port, bare_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data, database(backend, data) as db_url:
        await asyncio.to_thread(upgrade, db_url)
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(data, db_url, app_port, bare_port, role), daemon=True)
        server.start()
        try:
            base, bare = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
            await wait_up(f"{base}/api/v1/health")
            await wait_up(f"{bare}/bare")
            keys = await make_users(base)
            # (name, url, call, requests, the baseline row's name or None)
            print(f"\n{backend}, {role} server: {CLIENTS} concurrent clients, uvicorn over "
                  f"loopback HTTP; {load()}\n")
            print(f"| {'route':<30} | requests | req/s  | p50 ms | p99 ms | errors | ratio |")
            print(f"|{'-' * 32}|----------|--------|--------|--------|--------|-------|")
            # POST: the baseline first, then the jobs (the engine renders them meanwhile).
            await pair(("POST /bare (one INSERT)", bare, lambda c: c.post("/bare", json=JOB)),
                       ("POST /api/v1/jobs", base, lambda c: c.post("/api/v1/jobs", json=JOB)),
                       keys, requests // 2, rounds=1)
            if role == "web":  # a web node: its jobs wait for workers, none runs here
                print(f"\n{load()}")
                return
            await drained(base, keys)  # nothing renders from here on
            # GET: in alternating rounds, so a change in the machine's load hits both.
            await pair(("GET /bare (bare FastAPI)", bare, lambda c: c.get("/bare")),
                       ("GET /api/v1/jobs", base, lambda c: c.get("/api/v1/jobs")),
                       keys, requests, rounds=ROUNDS)
            # What every route of the app pays before any work: its middleware stack.
            await pair(("GET /bare (bare FastAPI)", bare, lambda c: c.get("/bare")),
                       ("GET /bench/noop (app, no work)", base, lambda c: c.get("/bench/noop")),
                       keys, requests // 2, rounds=ROUNDS)
            print(f"\n{load()}")
        finally:
            server.terminate()
            server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000,
                        help="requests per GET row (the POST rows: half as many)")
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--web-node", action="store_true",
                        help="POST only, against a web node (role web: the jobs are queued "
                        "for workers elsewhere, none runs in the measured process)")
    args = parser.parse_args()
    for backend in args.backend:
        try:
            asyncio.run(bench_backend(backend, args.requests,
                                      "web" if args.web_node else "embedded"))
        except RuntimeError as exc:
            print(f"{backend}: skipped: {exc}")


if __name__ == "__main__":
    main()
