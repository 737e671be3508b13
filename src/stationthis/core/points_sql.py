"""The ledger's SQL (``core/points.py``): the hot statements, built once — a statement built
per call costs more Python than SQLite spends running it (its expressions, then its cache
key) — and ``live_account``, which follows account links."""

from __future__ import annotations

from sqlalchemy import TextClause, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.points_model import ALLOWANCE, CREDIT
from stationthis.core.schema import accounts, ledger

ROW_COLUMNS = ("account_id", "kind", "bucket", "amount", "ref", "idem_key", "memo", "charged",
               "created_at")  # what Ledger._row gives
INSERTS: dict[int, TextClause] = {}  # ledger-row INSERTs by row count

LOCK = select(accounts).where(accounts.c.id == bindparam("account_id")).with_for_update()
REF_ROWS = (
    select(ledger.c.account_id, ledger.c.kind, ledger.c.bucket, ledger.c.amount,
           ledger.c.charged, accounts.c.merged_into)
    .join(accounts, accounts.c.id == ledger.c.account_id)
    .where(ledger.c.ref == bindparam("ref"))
)
MOVE = (
    update(accounts).where(accounts.c.id == bindparam("account_id"))
    .values(allowance_balance=accounts.c.allowance_balance + bindparam("allowance"),
            credit_balance=accounts.c.credit_balance + bindparam("credit"))
)


def insert_rows(count: int) -> TextClause:
    """``INSERT … ON CONFLICT (idem_key) DO NOTHING RETURNING id`` for ``count`` rows, in
    the SQL SQLite and PostgreSQL share, its parameters typed by their columns."""
    names = [[f"{c}_{i}" for c in ROW_COLUMNS] for i in range(count)]
    values = ", ".join("(" + ", ".join(f":{n}" for n in row) + ")" for row in names)
    return text(
        f"INSERT INTO ledger ({', '.join(ROW_COLUMNS)}) VALUES {values} "
        "ON CONFLICT (idem_key) DO NOTHING RETURNING id"
    ).bindparams(*[bindparam(n, type_=ledger.c[c].type)
                   for row in names for n, c in zip(row, ROW_COLUMNS, strict=True)])


async def live_account(conn: AsyncConnection, account_id: str) -> str:
    """The account in use now: follows ``merged_into`` links left by account linking."""
    seen = {account_id}
    while True:
        merged = (
            await conn.execute(select(accounts.c.merged_into).where(accounts.c.id == account_id))
        ).scalar_one_or_none()
        if merged is None or merged in seen:
            return account_id
        seen.add(merged)
        account_id = merged


async def balances_match(conn: AsyncConnection, account_id: str) -> bool:
    """True when the account's cached balances equal the sums of its ledger rows (and
    neither is negative)."""
    acc = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).one()
    sums = dict((await conn.execute(
        select(ledger.c.bucket, func.coalesce(func.sum(ledger.c.amount), 0))
        .where(ledger.c.account_id == account_id).group_by(ledger.c.bucket)
    )).all())
    return bool(
        int(sums.get(ALLOWANCE, 0)) == acc.allowance_balance
        and int(sums.get(CREDIT, 0)) == acc.credit_balance
        and acc.allowance_balance >= 0 and acc.credit_balance >= 0
    )


async def key_used(conn: AsyncConnection, key: str) -> bool:
    found = await conn.execute(select(ledger.c.id).where(ledger.c.idem_key == key))
    return found.first() is not None


async def ref_rows(conn: AsyncConnection, ref: str, kind: str) -> dict[str, int]:
    """A ref's rows of one kind, as amounts by bucket."""
    rows = await conn.execute(
        select(ledger.c.bucket, ledger.c.amount).where(ledger.c.ref == ref, ledger.c.kind == kind)
    )
    return {bucket: int(amount) for bucket, amount in rows}


async def charged_of(conn: AsyncConnection, ref: str) -> int:
    """What a ref's capture charged (0 when it has none)."""
    found = await conn.execute(
        select(ledger.c.charged).where(ledger.c.ref == ref, ledger.c.kind == "capture")
    )
    return int(found.scalar_one_or_none() or 0)
