"""What only operators do to accounts: the admin flag, finding accounts, and deducting
points (a ``deduct`` ledger row; granting uses ``Ledger.grant``)."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update

from stationthis.core.db import Database, new_id, utcnow
from stationthis.core.errors import InsufficientPoints, InvalidInput, NotFound
from stationthis.core.schema import accounts, identities, ledger
from stationthis.core.users import Account, Users


class AccountsAdmin:
    def __init__(self, db: Database, users: Users) -> None:
        self.db = db
        self.users = users

    async def is_admin(self, account_id: str) -> bool:
        async with self.db.read() as conn:
            flag = (await conn.execute(
                select(accounts.c.is_admin).where(accounts.c.id == account_id))).scalar()
        return bool(flag)

    async def set_admin(self, account_id: str, admin: bool) -> None:
        async with self.db.write() as conn:
            done = await conn.execute(update(accounts).where(accounts.c.id == account_id)
                                      .values(is_admin=admin))
        if not done.rowcount:
            raise NotFound("no such account")

    async def search(self, text: str, limit: int = 50) -> list[Account]:
        """Accounts whose name, id or a platform id (or ``platform:id``) matches ``text``;
        the newest first when ``text`` is empty."""
        text = text.strip()
        query = select(accounts.c.id).where(accounts.c.merged_into.is_(None))
        if text:
            like = f"%{text.lower()}%"
            platform, _, external = text.partition(":")
            by_identity = select(identities.c.account_id).where(or_(
                func.lower(identities.c.external_id).like(like),
                func.lower(identities.c.display_name).like(like),
                (identities.c.platform == platform.lower())
                & (identities.c.external_id == external),
            ))
            query = query.where(or_(func.lower(accounts.c.name).like(like),
                                    accounts.c.id == text, accounts.c.id.in_(by_identity)))
        query = query.order_by(accounts.c.created_at.desc()).limit(limit)
        async with self.db.read() as conn:
            ids = list((await conn.execute(query)).scalars())
        return [await self.users.get(i) for i in ids]

    async def deduct(self, account_id: str, amount: int, memo: str) -> int:
        """Take ``amount`` points away (purchased/granted credit first, then the allowance);
        refused when the balance is short. Returns the new spendable balance."""
        if amount <= 0:
            raise InvalidInput("a deduction must be a positive number of points")
        async with self.db.write() as conn:
            query = select(accounts).where(accounts.c.id == account_id)
            if not self.db.is_sqlite:
                query = query.with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound("no such account")
            available = row.credit_balance + row.allowance_balance
            if amount > available:
                raise InsufficientPoints(
                    f"cannot deduct {amount} points: only {available} are available",
                    quote=amount, available=available)
            from_credit = min(amount, row.credit_balance)
            parts = (("credit", from_credit), ("allowance", amount - from_credit))
            key = new_id()
            for bucket, value in parts:
                if value:
                    await conn.execute(ledger.insert().values(
                        account_id=account_id, kind="deduct", bucket=bucket, amount=-value,
                        ref=f"admin:{key}", idem_key=f"admin:{key}:deduct:{bucket}",
                        memo=memo[:300] or None, created_at=utcnow()))
            await conn.execute(update(accounts).where(accounts.c.id == account_id).values(
                credit_balance=accounts.c.credit_balance - from_credit,
                allowance_balance=accounts.c.allowance_balance - (amount - from_credit)))
        return int(available - amount)
