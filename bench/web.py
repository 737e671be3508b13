"""REST API throughput and latency under 50 concurrent clients, beside a bare FastAPI route
measured in the same run.

Run: ``.venv/bin/python bench/web.py`` (``--requests 400`` for a quicker, noisier run).

A child process serves, with uvicorn on free loopback ports, both the StationThis web app
(SQLite in a temporary folder, the preview engine) and a bare ``FastAPI()`` app with one route
returning a constant JSON object. The parent drives them with 50 concurrent ``httpx`` clients
over real HTTP (keep-alive, one connection per client); each client is its own user with an
API key. Measured, one after the other:

- ``GET /bare`` on the bare app: the baseline (uvicorn + FastAPI + JSON, nothing else);
- ``POST /api/v1/jobs``: a 64×64 ``make`` job with the preview engine: key lookup, tool
  resolution, settings, quote, the ledger hold, the job row and outbox in one transaction,
  queueing. The engine renders the queued jobs meanwhile, in the same server process;
- ``GET /api/v1/jobs`` (after those jobs have finished): key lookup, the user's 20 newest
  jobs from SQLite, serialisation.

Client and server share this machine's cores: the numbers are for comparing rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

CLIENTS = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data_dir: str, app_port: int, bare_port: int) -> None:
    """The server process: our app and the bare app, one event loop."""
    import uvicorn
    from fastapi import FastAPI

    from stationthis.bootstrap import build
    from stationthis.config import Settings
    from stationthis.migrations import upgrade
    from stationthis.platforms.web.app import create_app

    settings = Settings(
        data_dir=Path(data_dir), engine="preview", max_queued_per_user=1000,
        allowance={"amount": 10**12, "interval_seconds": 4_000_000_000},
        _env_file=None,  # type: ignore[call-arg]
    )
    upgrade(settings.db_url)
    bare = FastAPI()

    @bare.get("/bare")
    async def bare_route() -> dict[str, bool]:
        return {"ok": True}

    servers = [
        uvicorn.Server(uvicorn.Config(create_app(build(settings)), host="127.0.0.1",
                                      port=app_port, log_level="warning")),
        uvicorn.Server(uvicorn.Config(bare, host="127.0.0.1", port=bare_port,
                                      log_level="warning")),
    ]

    async def main() -> None:
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


async def bench(requests: int) -> None:
    app_port, bare_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data:
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(data, app_port, bare_port), daemon=True)
        server.start()
        try:
            base, bare = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
            await wait_up(f"{base}/api/v1/health")
            await wait_up(f"{bare}/bare")
            keys = await make_users(base)
            job = {"tool": "make", "options": {"prompt": "a red fox", "width": 64,
                                               "height": 64, "steps": 4}}
            rows = [
                ("GET /bare (bare FastAPI)", bare, lambda c: c.get("/bare"), requests),
                ("POST /api/v1/jobs (preview)", base,
                 lambda c: c.post("/api/v1/jobs", json=job), requests // 2),
                ("GET /api/v1/jobs", base, lambda c: c.get("/api/v1/jobs"), requests),
            ]
            print(f"{CLIENTS} concurrent clients, uvicorn over loopback HTTP, SQLite\n")
            print(f"| {'route':<30} | requests | req/s  | p50 ms | p99 ms | errors |")
            print(f"|{'-' * 32}|----------|--------|--------|--------|--------|")
            for name, url, call, total in rows:
                if name == "GET /api/v1/jobs":
                    await drained(base, keys)  # the engine no longer renders meanwhile
                rate, lat, errors = await measure(url, keys, call, total)
                print(f"| {name:<30} | {total:>8} | {rate:>6.0f} | "
                      f"{statistics.median(lat) * 1000:>6.1f} | {p99(lat) * 1000:>6.1f} | "
                      f"{errors:>6} |", flush=True)
        finally:
            server.terminate()
            server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000,
                        help="requests per GET row (job creation: half as many)")
    args = parser.parse_args()
    asyncio.run(bench(args.requests))


if __name__ == "__main__":
    main()
