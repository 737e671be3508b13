"""Refunds and chargebacks of purchases: ``refund`` ledger rows on the purchased-credit bucket.

A refund takes back the points of the refunded part of a purchase, exactly once: the row's
idempotency key names the purchase and how many of its points are taken back in total
(``purchase:<id>:refund:<points>``), so a second delivery of the same refund, an operator's
refund followed by the provider's webhook, or an older event arriving late changes nothing.

Points already spent are not undone: a refund larger than the purchased credit left makes
that credit negative. A later purchase repays it first (it adds to the same bucket), and
until then no job that costs points is accepted (``RefundAwareLedger.hold``). The free
allowance is never taken back.

``RefundAwareLedger`` is the core Ledger plus those two rules (the negative-credit block in
``hold``, and ``verify`` accepting a negative credit that refunds explain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, utcnow
from stationthis.core.errors import Conflict, InsufficientPoints, NotFound
from stationthis.core.points import ALLOWANCE, CREDIT, Hold, Ledger, live_account
from stationthis.core.points_sql import ref_rows
from stationthis.core.schema import accounts, ledger, purchases


class NotPaidYet(Conflict):
    """A refund for a purchase whose payment was not recorded yet (events out of order):
    the provider retries it later."""

    code = "not_paid_yet"


@dataclass(frozen=True)
class ClawBack:
    purchase_id: str
    account_id: str
    points: int  # taken back now (0: nothing new)
    total: int  # taken back for this purchase so far
    credit_after: int  # the purchased credit of the account afterwards (may be negative)


async def claw_back(db: Database, ledger_: Ledger, purchase_id: str, *, refunded_amount: int,
                    status: str, note: str = "") -> ClawBack:
    """Take back the points of the refunded part of a purchase (``refunded_amount`` in total,
    in the purchase's currency units; the whole amount takes back every point).
    ``status``: refunded | disputed."""
    async with db.read() as conn:
        found = (await conn.execute(
            select(purchases.c.account_id).where(purchases.c.id == purchase_id))).first()
        if found is None:
            raise NotFound("no such purchase")
        account_id = await live_account(conn, found.account_id)
    async with db.write() as conn:
        await ledger_.lock(conn, account_id)  # accounts first: the order every writer uses
        row = (await conn.execute(
            select(purchases).where(purchases.c.id == purchase_id).with_for_update())).one()
        if row.status not in ("paid", "refunded", "disputed"):
            raise NotPaidYet(f"purchase {purchase_id} is {row.status}: nothing to refund yet")
        amount = max(0, min(refunded_amount, int(row.amount)))
        target = int(row.points) if amount >= row.amount else int(row.points) * amount // int(
            row.amount)
        if status == "disputed":
            target = int(row.points)  # a chargeback takes the whole payment back
        delta = target - int(row.refunded_points)
        taken = 0
        if delta > 0:
            key = f"purchase:{purchase_id}:refund:{target}"
            used = (await conn.execute(
                select(ledger.c.id).where(ledger.c.idem_key == key))).first()
            if used is None:
                await _append_refund(conn, account_id, -delta, key=key, ref=f"purchase:{row.id}",
                                     memo=note or f"refund of {row.package} ({row.channel})")
                taken = delta
        values: dict[str, object] = {
            "refunded_points": max(target, int(row.refunded_points)),
            "refunded_amount": max(amount, int(row.refunded_amount)),
            "updated_at": utcnow(),
        }
        if row.status != "disputed" or status == "disputed":
            values["status"] = status
        if note:
            values["note"] = note[:300]
        await conn.execute(update(purchases).where(purchases.c.id == row.id).values(values))
        credit = (await conn.execute(
            select(accounts.c.credit_balance).where(accounts.c.id == account_id))).scalar_one()
    return ClawBack(purchase_id, account_id, taken, max(target, int(row.refunded_points)),
                    int(credit))


async def _append_refund(conn: AsyncConnection, account_id: str, amount: int, *, key: str,
                         ref: str, memo: str) -> None:
    """A ``refund`` row on the credit bucket and the cached balance, as Ledger._append does."""
    await conn.execute(insert(ledger).values(
        account_id=account_id, kind="refund", bucket=CREDIT, amount=amount, ref=ref,
        idem_key=key, memo=memo[:300] or None, charged=None, created_at=utcnow(),
    ))
    await conn.execute(update(accounts).where(accounts.c.id == account_id).values(
        credit_balance=accounts.c.credit_balance + amount))


def debt_message(credit: int) -> str:
    return (f"Your purchased balance is {credit:,} points after a refund, so new jobs are "
            "paused: buy points (/buy) to settle it, or ask the operator.").replace("-", "−")


class RefundAwareLedger(Ledger):
    """The ledger with the refund rules: a negative purchased credit (left by a refund)
    refuses every new hold that costs points, and ``verify`` accepts it when refund rows
    explain it."""

    async def _hold(  # the general path: Ledger.hold's one statement never holds on a debt
        self, conn: AsyncConnection, account_id: str, amount: int, *, ref: str, memo: str,
        locked: Any,
    ) -> Hold:
        if amount > 0:
            if locked is None:  # lock it here (the hold below uses the same row)
                locked = await self._lock(conn, account_id)
            credit = locked.credit_balance
            if credit is not None and credit < 0 and not await ref_rows(conn, ref, "hold"):
                raise InsufficientPoints(debt_message(int(credit)), quote=amount, available=0,
                                         purchased_balance=int(credit))
        return await super()._hold(conn, account_id, amount, ref=ref, memo=memo, locked=locked)

    async def verify(self, account_id: str) -> bool:
        """True when the cached balances equal the sums of the ledger rows, the allowance is
        not negative, and the purchased credit is negative only by what refunds took."""
        async with self.db.read() as conn:
            acc = (await conn.execute(
                select(accounts).where(accounts.c.id == account_id))).one()
            sums = dict((await conn.execute(
                select(ledger.c.bucket, func.coalesce(func.sum(ledger.c.amount), 0))
                .where(ledger.c.account_id == account_id).group_by(ledger.c.bucket))).all())
            refunded = (await conn.execute(
                select(func.coalesce(func.sum(ledger.c.amount), 0)).where(
                    ledger.c.account_id == account_id, ledger.c.kind == "refund"))).scalar_one()
        return bool(
            int(sums.get(ALLOWANCE, 0)) == acc.allowance_balance
            and int(sums.get(CREDIT, 0)) == acc.credit_balance
            and acc.allowance_balance >= 0
            and acc.credit_balance >= min(0, int(refunded))
        )
