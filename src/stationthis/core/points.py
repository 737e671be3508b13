"""The points ledger: append-only rows, two-phase spending, a regenerating free allowance.

Every balance change is a row in ``ledger``; ``accounts.*_balance`` caches the sums and is
updated in the same transaction. Spending works like a card authorisation:

    hold(ref, H)      -H      points reserved when a job is accepted
    settle(ref, C)     0      capture: C ≤ H charged (recorded in ``charged``)
                    +(H-C)    release of the rest
    release(ref)      +H      the job failed, was cancelled or lost: nothing is charged

Every write carries an idempotency key derived from ``ref``; repeating a call is a no-op.
Points are spent from the free allowance first, then from purchased credit.

A hold is one row, or two when it takes from both buckets, and its split depends on the
balance at the time: a repeat made after the balance moved (the allowance spent elsewhere,
or by the first call itself when two race) may split otherwise. So a hold's first row has
the key ``<ref>:hold`` whatever its bucket (allowance, or credit when it is all credit), a
second row ``<ref>:hold:credit``: every repeat collides on ``<ref>:hold``, writes nothing (a
hold's rows go in all or nothing) and returns the hold that was made. Rejected: a read of
the ref's rows before each hold (a statement more on the hot path, and on PostgreSQL still a
race: a statement's snapshot predates a concurrent commit, a unique key does not), and an
allowance row of 0 points in every hold as the anchor (a row more per credit-only hold: 4-8 %
fewer hold + settle per second where the allowance is spent, and zero rows to hide from the
history). Holds written before (keys ``<ref>:hold:allowance`` and ``<ref>:hold:credit``)
settle and release as before: only the insert reads the keys, and no hold is repeated after
an upgrade (a job holds on a fresh ref, in the transaction that creates it). The values
(``Balance``, ``Hold``…) are ``points_model``, the prebuilt SQL ``points_sql``; both are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core import points_pg
from stationthis.core.db import Database, as_utc, utcnow
from stationthis.core.errors import InsufficientPoints, InvalidInput, NotFound
from stationthis.core.points_model import (
    ALLOWANCE,
    CREDIT,
    AllowancePolicy,
    Balance,
    Hold,
    LedgerEntry,
    moment_of,
    refill_eta,
)
from stationthis.core.points_sql import (
    INSERTS,
    LOCK,
    MOVE,
    REF_ROWS,
    ROW_COLUMNS,
    balances_match,
    charged_of,
    insert_rows,
    key_used,
    live_account,
    ref_rows,
)
from stationthis.core.schema import accounts, ledger

__all__ = [
    "ALLOWANCE", "CREDIT", "AllowancePolicy", "Balance", "Hold", "Ledger", "LedgerEntry",
    "live_account", "refill_eta",
]


@dataclass(frozen=True)
class _RefState:
    ref: str
    account_id: str
    merged_into: str | None
    held_allowance: int
    held_credit: int
    ended: bool  # captured or released already
    charged: int


class Ledger:
    def __init__(
        self,
        db: Database,
        policy: AllowancePolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock

    # ----- reads -------------------------------------------------------------------------

    async def balance(self, account_id: str) -> Balance:
        async with self.db.write() as conn:
            row = await self._lock(conn, account_id)
            allowance, credit = await self._refill(conn, row)
        return self._balance_of(row, allowance, credit, refilled=True)

    async def history(self, account_id: str, limit: int = 50) -> list[LedgerEntry]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ledger)
                    .where(ledger.c.account_id == account_id)
                    .order_by(ledger.c.id.desc())
                    .limit(limit)
                )
            ).all()
        return [
            LedgerEntry(
                id=r.id,
                kind=r.kind,
                bucket=r.bucket,
                amount=r.amount,
                charged=r.charged,
                ref=r.ref,
                memo=r.memo,
                created_at=as_utc(r.created_at),
            )
            for r in rows
        ]

    async def verify(self, account_id: str) -> bool:
        """True when the cached balances equal the sums of the ledger rows."""
        async with self.db.read() as conn:
            return await balances_match(conn, account_id)

    # ----- writes ------------------------------------------------------------------------

    async def grant(
        self, account_id: str, amount: int, *, key: str, kind: str = "grant", memo: str = ""
    ) -> bool:
        """Add purchased/granted credit. Returns False when ``key`` was already used."""
        if amount <= 0:
            raise InvalidInput("a grant must be a positive number of points")
        async with self.db.write() as conn:
            await self._lock(conn, account_id)
            if await key_used(conn, key):
                return False
            await self._append(conn, account_id, kind, CREDIT, amount, key=key, memo=memo)
        return True

    async def hold(
        self, conn: AsyncConnection, account_id: str, amount: int, *, ref: str, memo: str = "",
        locked: Any = None,
    ) -> Hold:
        """Reserve ``amount`` inside the caller's write transaction (idempotent on ``ref``).

        On PostgreSQL one statement in the common case (``points_pg``); otherwise three: lock
        the account, insert the hold rows (skipped when they exist), move the balances."""
        if amount < 0:
            raise InvalidInput("a hold cannot be negative")
        if conn.dialect.name == "postgresql":
            done = await points_pg.hold(conn, account_id, amount, ref=ref, memo=memo,
                                        tick=self._tick(), now=self.clock())
            if done is not None:
                return Hold(ref, *done)
        return await self._hold(conn, account_id, amount, ref=ref, memo=memo, locked=locked)

    async def _hold(
        self, conn: AsyncConnection, account_id: str, amount: int, *, ref: str, memo: str,
        locked: Any,
    ) -> Hold:
        row = locked if locked is not None else await self._lock(conn, account_id)
        allowance, credit = await self._refill(conn, row)
        available = allowance + credit
        if amount > available:
            existing = await ref_rows(conn, ref, "hold")
            if existing:  # a repeated call for a hold made before the balance fell
                return Hold(ref, -existing.get(ALLOWANCE, 0), -existing.get(CREDIT, 0))
            raise InsufficientPoints(
                f"This costs {amount} points but only {available} are available.",
                quote=amount,
                available=available,
                next_refill_at=self._balance_of(row, allowance, credit,
                                                refilled=True).next_refill_at,
            )
        from_allowance = min(amount, max(allowance, 0))
        from_credit = amount - from_allowance
        # One row per bucket it takes from (a free job: one zero allowance row); the first
        # is <ref>:hold whatever the split, so that any repeat collides (module docstring).
        parts = [(b, v) for b, v in ((ALLOWANCE, from_allowance), (CREDIT, from_credit)) if v]
        rows = [self._row(account_id, "hold", bucket, -value, ref=ref, memo=memo,
                          key=f"{ref}:hold:{bucket}" if i else f"{ref}:hold")
                for i, (bucket, value) in enumerate(parts or [(ALLOWANCE, 0)])]
        if not await self._insert(conn, rows):  # this hold was made before
            existing = await ref_rows(conn, ref, "hold")
            return Hold(ref, -existing.get(ALLOWANCE, 0), -existing.get(CREDIT, 0))
        await self._move(conn, account_id, -from_allowance, -from_credit)
        return Hold(ref, from_allowance, from_credit)

    async def settle(self, conn: AsyncConnection, ref: str, cost: int) -> int:
        """Capture ``cost`` (at most the hold) and release the rest. Returns points charged.

        Callers serialise per ``ref`` (a job's row lock); three statements: read the ref's
        rows, insert capture and release, move the cached balances (PostgreSQL: one)."""
        if conn.dialect.name == "postgresql":
            done = await points_pg.settle(conn, ref, cost, now=self.clock())
            if done is not None:
                return done
        state = await self._state(conn, ref)
        if state is None:
            raise NotFound(f"no hold for {ref}")
        if state.ended:
            return state.charged
        held = state.held_allowance + state.held_credit
        charged = max(0, min(cost, held))
        capture = self._row(
            state.account_id, "capture", CREDIT, 0, ref=ref, key=f"{ref}:capture",
            charged=charged, memo=f"charged {charged} of {held} held",
        )
        if not await self._give_back(conn, state, held - charged, "", first=[capture]):
            return await charged_of(conn, ref)
        return charged

    async def release(self, conn: AsyncConnection, ref: str, memo: str = "") -> int:
        """Return the whole hold (failure, cancel, lost work). Returns points returned."""
        if conn.dialect.name == "postgresql":
            done = await points_pg.release(conn, ref, memo=memo, now=self.clock())
            if done is not None:
                return done
        state = await self._state(conn, ref)
        if state is None or state.ended:
            return 0
        held = state.held_allowance + state.held_credit
        if not await self._give_back(conn, state, held, memo):
            return 0
        return held

    # ----- internals ---------------------------------------------------------------------

    async def _state(self, conn: AsyncConnection, ref: str) -> _RefState | None:
        """Everything settle and release need about ``ref``, in one read."""
        rows = (await conn.execute(REF_ROWS, {"ref": ref})).all()
        holds = [r for r in rows if r.kind == "hold"]
        if not holds:
            return None
        held = {r.bucket: -int(r.amount) for r in holds}
        charged = next((int(r.charged or 0) for r in rows if r.kind == "capture"), 0)
        return _RefState(
            ref=ref, account_id=holds[0].account_id, merged_into=holds[0].merged_into,
            held_allowance=held.get(ALLOWANCE, 0), held_credit=held.get(CREDIT, 0),
            ended=any(r.kind in ("capture", "release") for r in rows), charged=charged,
        )

    async def _give_back(
        self, conn: AsyncConnection, state: _RefState, amount: int, memo: str,
        first: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Release rows for ``amount``; a zero release is still written, so every hold
        visibly ends in a release (of nothing, when the whole hold was charged). Purchased
        credit goes back first: the allowance regenerates by itself. Credit held by an
        account since linked into another goes to the account that owns its identities
        now; a merged account's allowance stays with it. False when another call ended
        this hold first."""
        to_credit = min(amount, state.held_credit)
        to_allowance = amount - to_credit
        owner = state.account_id
        credit_owner = owner
        if state.merged_into is not None and to_credit:
            credit_owner = await live_account(conn, owner)
        rows = list(first or [])
        for bucket, value in ((CREDIT, to_credit), (ALLOWANCE, to_allowance)):
            if value or (not amount and bucket == ALLOWANCE):
                rows.append(self._row(
                    credit_owner if bucket == CREDIT else owner, "release", bucket, value,
                    ref=state.ref, key=f"{state.ref}:release:{bucket}", memo=memo,
                ))
        if not await self._insert(conn, rows):
            return False
        if credit_owner == owner:
            await self._move(conn, owner, to_allowance, to_credit)
        else:
            await self._move(conn, owner, to_allowance, 0)
            await self._move(conn, credit_owner, 0, to_credit)
        return True

    def _row(
        self, account_id: str, kind: str, bucket: str, amount: int, *, key: str,
        ref: str | None = None, memo: str = "", charged: int | None = None,
    ) -> dict[str, Any]:
        return {"account_id": account_id, "kind": kind, "bucket": bucket, "amount": amount,
                "ref": ref, "idem_key": key, "memo": memo or None, "charged": charged,
                "created_at": self.clock()}

    async def _insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> bool:
        """Insert ledger rows in one statement; False (and nothing written) when their
        idempotency keys were used before."""
        statement = INSERTS.get(len(rows))
        if statement is None:  # one statement per row count, bound by name: compiled once
            # (SQLAlchemy's ON CONFLICT constructs have no cache key: compiled every time)
            statement = insert_rows(len(rows))
            INSERTS[len(rows)] = statement
        params = {f"{c}_{i}": row[c] for i, row in enumerate(rows) for c in ROW_COLUMNS}
        made = [row[0] for row in (await conn.execute(statement, params)).all()]
        if 0 < len(made) < len(rows):  # some keys were used before, by the same ref split
            # otherwise (a repeat after the balance moved): all or nothing
            await conn.execute(delete(ledger).where(ledger.c.id.in_(made)))
        return len(made) == len(rows)

    async def _move(self, conn: AsyncConnection, account_id: str, allowance: int,
                    credit: int) -> None:
        """Move an account's cached balances by these amounts (one UPDATE, or none)."""
        if allowance or credit:
            await conn.execute(MOVE, {"account_id": account_id, "allowance": allowance,
                                      "credit": credit})

    async def _append(
        self, conn: AsyncConnection, account_id: str, kind: str, bucket: str, amount: int,
        *, key: str, ref: str | None = None, memo: str = "", charged: int | None = None,
    ) -> None:
        await conn.execute(
            insert(ledger).values(
                account_id=account_id, kind=kind, bucket=bucket, amount=amount, ref=ref,
                idem_key=key, memo=memo or None, charged=charged, created_at=self.clock(),
            )
        )
        if amount:
            col = accounts.c.allowance_balance if bucket == ALLOWANCE else accounts.c.credit_balance
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values({col: col + amount})
            )

    async def lock(self, conn: AsyncConnection, *account_ids: str) -> dict[str, Any]:
        """Lock accounts for the rest of the caller's write transaction, in one fixed order.

        Call it first in a transaction that inserts rows referring to an account and then
        holds points from it: on PostgreSQL the insert's foreign-key check takes a shared
        lock on the account row, and two such transactions would then deadlock upgrading it
        to the hold's exclusive lock. Returns the locked rows (``hold(locked=…)``)."""
        return {account_id: await self._lock(conn, account_id)
                for account_id in sorted(set(account_ids))}

    async def _lock(self, conn: AsyncConnection, account_id: str):  # type: ignore[no-untyped-def]
        row = (await conn.execute(LOCK, {"account_id": account_id})).one_or_none()
        if row is None:
            raise NotFound("no such account")
        return row

    async def _refill(  # type: ignore[no-untyped-def]
        self, conn: AsyncConnection, row
    ) -> tuple[int, int]:
        """Add the allowance steps due since the account's last tick; returns the account's
        (allowance, credit) after it, so callers need not read the row again.

        Ticks count intervals of the CURRENT setting, so a tick stored under another
        interval (``STATIONTHIS_ALLOWANCE__*`` changed on an existing install) must never
        break anything: a stored tick ahead of now (the interval grew, or the clock went
        back) restarts the count from now without a refill; one far behind (the interval
        shrank) refills at most to the full allowance. An allowance above a lowered
        ``amount`` is kept (never taken away) and simply not refilled."""
        p = self.policy
        tick = self._tick()
        last = row.allowance_tick
        allowance = row.allowance_balance
        if last == tick:
            return allowance, row.credit_balance
        if last is not None and last < tick and p.amount:
            steps = min(tick - last, p.steps)  # `steps` steps fill it from empty
            add = min(steps * p.step_amount, p.amount - allowance)
            key = f"allowance:{row.id}:{tick}"
            if add > 0 and await self._insert(conn, [self._row(
                row.id, "allowance", ALLOWANCE, add, key=key, memo="free allowance refill",
            )]):  # (skipped for a key of a tick of another interval)
                allowance += add
        await conn.execute(
            update(accounts).where(accounts.c.id == row.id)
            .values(allowance_tick=tick, allowance_balance=allowance)
        )
        return allowance, row.credit_balance

    def _tick(self) -> int:
        return int(self.clock().timestamp()) // self.policy.interval_seconds

    def _balance_of(  # type: ignore[no-untyped-def]
        self, row, allowance: int | None = None, credit: int | None = None,
        *, refilled: bool = False,
    ) -> Balance:
        """The balance of a locked row; after ``_refill`` pass its numbers and
        ``refilled`` (the row's tick is then the current one)."""
        p = self.policy
        allowance = row.allowance_balance if allowance is None else allowance
        credit = row.credit_balance if credit is None else credit
        next_at = None
        tick = self._tick() if refilled else row.allowance_tick
        if allowance < p.amount and tick is not None and tick <= self._tick():
            next_at = moment_of((tick + 1) * p.interval_seconds, self.clock())
        return Balance(allowance, credit, p.amount, next_at)
