"""Ledger throughput on SQLite and PostgreSQL, against a plain-UPDATE baseline in the same run.

    .venv/bin/python bench/ledger.py [--seconds 3] [--spenders 1 32] [--backend sqlite postgres]

One ledger op is one job's spending: ``Ledger.hold`` in one write transaction, then
``Ledger.settle`` (capture + release of the rest) in another, as the job runner does it.
The baseline is one ``UPDATE accounts SET credit_balance = credit_balance - 1`` per write
transaction, through the same ``Database.write()``, with the same number of concurrent
tasks on the same database, on rows of its own (it leaves their cached balance off the
ledger on purpose, so they are never verified). On SQLite a second baseline, "plain", runs
the same transaction the ordinary way — ``BEGIN IMMEDIATE``, ``UPDATE``, ``COMMIT`` on a
pooled connection of its own, as code without the one writer would.

Spenders are asyncio tasks. "own" gives each spender its own account; "shared" makes them
all spend from one account (a group pool), so they queue on that account's row lock.
Each cell runs for a fixed time after a short warm-up. ``Ledger.verify`` must hold for
every account the ledger cell touched.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.support.postgres

from sqlalchemy import text  # noqa: E402

from stationthis.core.db import Database  # noqa: E402
from stationthis.core.points import AllowancePolicy, Ledger  # noqa: E402
from stationthis.core.users import Identity, Users  # noqa: E402
from stationthis.migrations import upgrade  # noqa: E402

HOLD = 12  # points reserved per op
COST = 9  # points captured per op (the other 3 are released)
FUNDS = 10**12  # purchased credit per account: no cell can run out
WARMUP_S = 0.3
BASELINE_SQL = text("UPDATE accounts SET credit_balance = credit_balance - 1 WHERE id = :id")


@dataclass(frozen=True)
class Cell:
    backend: str
    spenders: int
    accounts: str  # own | shared
    ledger_ops: float
    baseline_ops: float
    verified: bool
    plain_ops: float = float("nan")  # SQLite: the UPDATE on a pooled connection of its own

    @property
    def ratio(self) -> float:
        return self.ledger_ops / self.baseline_ops if self.baseline_ops else float("nan")

    @property
    def plain_ratio(self) -> float:
        return self.ledger_ops / self.plain_ops if self.plain_ops else float("nan")


async def run_for(
    seconds: float, workers: int, step: Callable[[int, int], Awaitable[None]]
) -> float:
    """Run ``step(worker, i)`` in a loop in ``workers`` tasks until the deadline; ops/s."""
    counts = [0] * workers
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        while time.perf_counter() < deadline:
            await step(w, counts[w])
            counts[w] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    return sum(counts) / (time.perf_counter() - start)


class Bench:
    def __init__(self, db: Database, backend: str, seconds: float) -> None:
        self.db = db
        self.backend = backend
        self.seconds = seconds
        self.ledger = Ledger(db, AllowancePolicy())
        self.users = Users(db, self.ledger, self.ledger.policy)
        self._made = 0

    async def new_accounts(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            self._made += 1
            account = await self.users.resolve(Identity("bench", f"{self.backend}-{self._made}"))
            await self.ledger.grant(account.id, FUNDS, key=f"bench:funds:{account.id}")
            ids.append(account.id)
        return ids

    async def cell(self, spenders: int, mode: str) -> Cell:
        count = spenders if mode == "own" else 1
        spend_on = await self.new_accounts(count)
        update_on = await self.new_accounts(count)
        tag = f"{spenders}{mode}"

        def account(ids: list[str], w: int) -> str:
            return ids[w % len(ids)]

        async def ledger_op(w: int, i: int, phase: str) -> None:
            ref = f"bench:{tag}:{phase}:{w}:{i}"
            async with self.db.write() as conn:
                await self.ledger.hold(conn, account(spend_on, w), HOLD, ref=ref)
            async with self.db.write() as conn:
                await self.ledger.settle(conn, ref, COST)

        async def baseline_op(w: int, _i: int) -> None:
            async with self.db.write() as conn:
                await conn.execute(BASELINE_SQL, {"id": account(update_on, w)})

        await run_for(WARMUP_S, spenders, lambda w, i: ledger_op(w, i, "warm"))
        ledger_rate = await run_for(self.seconds, spenders, lambda w, i: ledger_op(w, i, "run"))
        async def plain_op(w: int, _i: int) -> None:
            # BEGIN IMMEDIATE, UPDATE, COMMIT on a pooled connection of its own, as code
            # without the writer does it (SQLite's busy handler settles who goes first)
            async with self.db.engine.connect() as conn:
                await conn.execution_options(stationthis_write=True)
                async with conn.begin():
                    await conn.execute(BASELINE_SQL, {"id": account(update_on, w)})

        await run_for(WARMUP_S, spenders, baseline_op)
        baseline_rate = await run_for(self.seconds, spenders, baseline_op)
        plain_rate = float("nan")
        if self.db.is_sqlite:
            await run_for(WARMUP_S, spenders, plain_op)
            plain_rate = await run_for(self.seconds, spenders, plain_op)
        verified = all([await self.ledger.verify(a) for a in spend_on])
        return Cell(self.backend, spenders, mode, ledger_rate, baseline_rate, verified,
                    plain_rate)


async def bench_backend(
    url: str, backend: str, seconds: float, shapes: list[tuple[int, str]]
) -> list[Cell]:
    db = Database(url)
    try:
        bench = Bench(db, backend, seconds)
        cells = []
        for spenders, mode in shapes:
            cell = await bench.cell(spenders, mode)
            print_row(cell)
            cells.append(cell)
        return cells
    finally:
        await db.dispose()


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="stationthis-bench-") as tmp:
        yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def postgres_url() -> Iterator[str]:
    from tests.support.postgres import pg_available, postgres_server

    if not pg_available():
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


HEADER = (
    f"{'backend':<10} {'spenders':>8} {'accounts':>8} {'ledger ops/s':>13} "
    f"{'baseline upd/s':>15} {'ratio':>6} {'plain upd/s':>12} {'ratio':>6}  verify"
)


def print_row(cell: Cell) -> None:
    plain = (f"{'-':>12} {'-':>6}" if math.isnan(cell.plain_ops)
             else f"{cell.plain_ops:>12.0f} {cell.plain_ratio:>6.3f}")
    print(
        f"{cell.backend:<10} {cell.spenders:>8} {cell.accounts:>8} {cell.ledger_ops:>13.0f} "
        f"{cell.baseline_ops:>15.0f} {cell.ratio:>6.3f} {plain}  "
        f"{'ok' if cell.verified else 'FAILED'}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per cell")
    parser.add_argument("--spenders", type=int, nargs="+", default=[1, 32])
    parser.add_argument(
        "--backend", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    args = parser.parse_args(argv)
    shapes = [(n, "own") for n in args.spenders]
    shapes += [(n, "shared") for n in args.spenders if n > 1]  # 1 spender: same as own

    print("one ledger op = hold + settle (capture and release), two write transactions;")
    print("baseline = one single-row UPDATE per write transaction through Database.write()")
    print("(SQLite: the one writer, group commit); plain = the same UPDATE transaction on a")
    print("pooled connection of its own (SQLite only; on PostgreSQL it is the baseline);")
    print("ratio = ledger ops/s / baseline (or plain) updates/s")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPU(s)")
    print(f"{args.seconds:g} s per measurement after {WARMUP_S:g} s warm-up\n")
    print(HEADER)
    print("-" * len(HEADER))
    started = time.perf_counter()
    cells: list[Cell] = []
    for backend in args.backend:
        source = sqlite_url if backend == "sqlite" else postgres_url
        try:
            with source() as url:
                upgrade(url)
                cells += asyncio.run(bench_backend(url, backend, args.seconds, shapes))
        except RuntimeError as exc:
            print(f"{backend:<10} skipped: {exc}")
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0 if all(c.verified for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
