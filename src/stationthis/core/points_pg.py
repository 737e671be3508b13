"""The ledger's hold and its end (capture + release, or release) as ONE statement each on
PostgreSQL (``core/points.py``): data-modifying CTEs that read, insert the ledger rows and
move the cached balances in one round trip.

Each covers the common case only and changes nothing otherwise; ``None`` then sends the
caller to the general path (the same rules, a few statements), in the same transaction:

- hold: the account exists, its allowance needs no refill (its tick is the current one),
  the balance covers the amount, its purchased credit is not negative (a refund's debt),
  and this ref holds nothing yet (a repeated call);
- end: the hold's account was not linked into another while credit is to go back.

The cached balances move by exactly the rows the statement inserted, so a conflicting
idempotency key can never move them twice.

The hold inserts its first row (key ``<ref>:hold``, whatever its bucket) and the second
(``<ref>:hold:credit``, when it takes from both buckets) only when the first went in. The
``NOT EXISTS`` test alone cannot stop a repeat: under READ COMMITTED the statement's snapshot
is taken before it waits for the account's row lock, so a hold of the same ref committed
meanwhile is invisible to it, while the balance it reads (re-read after the lock) already
shows that hold — a repeat then splits otherwise. ``ON CONFLICT`` sees rows committed after
the snapshot: the repeat collides on ``<ref>:hold``, inserts nothing, and the general path
returns the hold that was made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Row, String, TextClause, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.errors import NotFound
from stationthis.core.schema import ledger

_COLUMNS = "account_id, kind, bucket, amount, ref, idem_key, memo, charged, created_at"

# Moves each account the inserted rows name by their sums (none when they sum to 0).
_MOVE = """
mv AS (
  UPDATE accounts SET allowance_balance = accounts.allowance_balance + d.a,
                      credit_balance = accounts.credit_balance + d.c
  FROM (SELECT account_id,
               COALESCE(SUM(amount) FILTER (WHERE bucket = 'allowance'), 0) AS a,
               COALESCE(SUM(amount) FILTER (WHERE bucket = 'credit'), 0) AS c
        FROM ins GROUP BY account_id) AS d
  WHERE accounts.id = d.account_id AND (d.a <> 0 OR d.c <> 0)
  RETURNING accounts.id
)"""

HOLD: TextClause = text(f"""
WITH acc AS (
  SELECT id, allowance_balance AS a, credit_balance AS c, allowance_tick AS tick
  FROM accounts WHERE id = :account_id FOR UPDATE
),
ok AS (
  SELECT id, LEAST(:amount, GREATEST(a, 0)) AS fa, :amount - LEAST(:amount, GREATEST(a, 0)) AS fc
  FROM acc
  WHERE tick = :tick AND a + c >= :amount AND (c >= 0 OR :amount = 0)
    AND NOT EXISTS (SELECT 1 FROM ledger WHERE ref = :ref AND kind = 'hold')
),
head AS (
  INSERT INTO ledger ({_COLUMNS})
  SELECT ok.id, 'hold', CASE WHEN ok.fa <> 0 OR ok.fc = 0 THEN 'allowance' ELSE 'credit' END,
         -CASE WHEN ok.fa <> 0 OR ok.fc = 0 THEN ok.fa ELSE ok.fc END, :ref, :key_hold, :memo,
         NULL, :created_at
  FROM ok
  ON CONFLICT (idem_key) DO NOTHING
  RETURNING account_id, bucket, amount
),
tail AS (
  INSERT INTO ledger ({_COLUMNS})
  SELECT ok.id, 'hold', 'credit', -ok.fc, :ref, :key_credit, :memo, NULL, :created_at FROM ok
  WHERE ok.fa <> 0 AND ok.fc <> 0 AND EXISTS (SELECT 1 FROM head)
  ON CONFLICT (idem_key) DO NOTHING
  RETURNING account_id, bucket, amount
),
ins AS (SELECT * FROM head UNION ALL SELECT * FROM tail),{_MOVE}
SELECT ok.fa, ok.fc, (SELECT COUNT(*) FROM ins) AS inserted, (SELECT COUNT(*) FROM mv) AS moved
FROM ok
""").bindparams(
    bindparam("account_id", type_=String), bindparam("amount", type_=BigInteger),
    bindparam("tick", type_=BigInteger), bindparam("ref", type_=String),
    bindparam("memo", type_=String), bindparam("key_hold", type_=String),
    bindparam("key_credit", type_=String), bindparam("created_at", type_=ledger.c.created_at.type),
)

END: TextClause = text(f"""
WITH s AS (
  SELECT MIN(l.account_id) FILTER (WHERE l.kind = 'hold') AS owner,
         COALESCE(BOOL_OR(a.merged_into IS NOT NULL) FILTER (WHERE l.kind = 'hold'), false)
           AS merged,
         COALESCE(-SUM(l.amount) FILTER (WHERE l.kind = 'hold' AND l.bucket = 'allowance'), 0)
           AS ha,
         COALESCE(-SUM(l.amount) FILTER (WHERE l.kind = 'hold' AND l.bucket = 'credit'), 0)
           AS hc,
         COUNT(*) FILTER (WHERE l.kind = 'hold') AS holds,
         COUNT(*) FILTER (WHERE l.kind IN ('capture', 'release')) AS ends,
         COALESCE(MAX(l.charged) FILTER (WHERE l.kind = 'capture'), 0) AS was_charged
  FROM ledger AS l JOIN accounts AS a ON a.id = l.account_id
  WHERE l.ref = :ref
),
c AS (
  SELECT owner, merged, hc, ha + hc AS held,
         CASE WHEN :capture THEN GREATEST(0, LEAST(:cost, ha + hc)) ELSE 0 END AS charged
  FROM s WHERE holds > 0 AND ends = 0
),
g AS (
  SELECT owner, held, charged, LEAST(held - charged, hc) AS to_c,
         held - charged - LEAST(held - charged, hc) AS to_a
  FROM c
),
go AS (
  SELECT * FROM g WHERE NOT (SELECT merged FROM s) OR to_c = 0
),
ins AS (
  INSERT INTO ledger ({_COLUMNS})
  SELECT go.owner, r.kind, r.bucket, r.amount, :ref, r.idem_key, r.memo, r.charged, :created_at
  FROM go CROSS JOIN LATERAL (VALUES
      (1, 'capture', 'credit', 0::bigint, go.charged, :key_capture,
       format('charged %s of %s held', go.charged, go.held)),
      (2, 'release', 'credit', go.to_c, NULL::bigint, :key_credit, :memo),
      (3, 'release', 'allowance', go.to_a, NULL::bigint, :key_allowance, :memo)
    ) AS r (n, kind, bucket, amount, charged, idem_key, memo)
  WHERE (r.n = 1 AND :capture) OR (r.n = 2 AND go.to_c <> 0)
     OR (r.n = 3 AND (go.to_a <> 0 OR go.to_a + go.to_c = 0))
  ORDER BY r.n
  ON CONFLICT (idem_key) DO NOTHING
  RETURNING account_id, bucket, amount
),{_MOVE}
SELECT s.holds, s.ends, s.was_charged, go.charged, go.held,
       (SELECT COUNT(*) FROM ins) AS inserted, (SELECT COUNT(*) FROM mv) AS moved
FROM s LEFT JOIN go ON true
""").bindparams(
    bindparam("ref", type_=String), bindparam("capture", type_=Boolean),
    bindparam("cost", type_=BigInteger), bindparam("memo", type_=String),
    bindparam("key_capture", type_=String), bindparam("key_credit", type_=String),
    bindparam("key_allowance", type_=String),
    bindparam("created_at", type_=ledger.c.created_at.type),
)


async def hold(
    conn: AsyncConnection, account_id: str, amount: int, *, ref: str, memo: str, tick: int,
    now: datetime,
) -> tuple[int, int] | None:
    """Hold ``amount`` in one statement: (from allowance, from credit), or None when the
    general path must decide (nothing was written)."""
    row = (await conn.execute(HOLD, {
        "account_id": account_id, "amount": amount, "tick": tick, "ref": ref,
        "memo": memo or None, "key_hold": f"{ref}:hold", "key_credit": f"{ref}:hold:credit",
        "created_at": now,
    })).first()
    if row is None or not row.inserted:  # not the common case (its key was used: made)
        return None
    return int(row.fa), int(row.fc)


async def settle(conn: AsyncConnection, ref: str, cost: int, *, now: datetime) -> int | None:
    """``Ledger.settle`` in one statement: the points charged, or None for the general
    path (nothing was written)."""
    row = await _end(conn, ref, cost=cost, memo="", now=now)
    if not row.holds:
        raise NotFound(f"no hold for {ref}")
    if row.ends:  # captured or released before
        return int(row.was_charged)
    if row.held is None:  # credit to give back to an account linked into another
        return None
    if not row.inserted:  # another call ended it between the read and the insert
        found = await conn.execute(select(ledger.c.charged).where(
            ledger.c.ref == ref, ledger.c.kind == "capture"))
        return int(found.scalar_one_or_none() or 0)
    return int(row.charged)


async def release(conn: AsyncConnection, ref: str, *, memo: str, now: datetime) -> int | None:
    """``Ledger.release`` in one statement: the points given back, or None for the general
    path (nothing was written)."""
    row = await _end(conn, ref, cost=None, memo=memo, now=now)
    if not row.holds or row.ends:
        return 0
    if row.held is None:
        return None
    return int(row.held) if row.inserted else 0


async def _end(
    conn: AsyncConnection, ref: str, *, cost: int | None, memo: str, now: datetime,
) -> Row[Any]:
    """Capture ``cost`` and release the rest (``cost`` None: release it all)."""
    return (await conn.execute(END, {
        "ref": ref, "capture": cost is not None, "cost": cost or 0, "memo": memo or None,
        "key_capture": f"{ref}:capture", "key_credit": f"{ref}:release:credit",
        "key_allowance": f"{ref}:release:allowance", "created_at": now,
    })).one()
