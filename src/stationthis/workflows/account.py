"""Account: balance with the allowance refill time, ledger history, grants, linking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from stationthis.core.points import AllowancePolicy, Balance, Ledger, LedgerEntry, refill_eta
from stationthis.core.users import Account, Identity, Users


@dataclass(frozen=True)
class BalanceView:
    balance: Balance
    full_in: timedelta | None  # until the free allowance is full again


class AccountWorkflow:
    def __init__(self, users: Users, ledger: Ledger, policy: AllowancePolicy,
                 on_merged: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.users = users
        self.ledger = ledger
        self.policy = policy
        # Told the id of an account that was linked into another (its sessions and API keys
        # now act as the kept account: bootstrap passes the auth cache's ``forget_account``).
        self.on_merged = on_merged

    async def balance(self, user: Account) -> BalanceView:
        balance = await self.ledger.balance(user.id)
        return BalanceView(balance, refill_eta(balance, self.policy))

    async def history(self, user: Account, limit: int = 20) -> list[LedgerEntry]:
        return await self.ledger.history(user.id, limit)

    async def grant(self, user: Account, amount: int, *, key: str, memo: str = "") -> bool:
        return await self.ledger.grant(user.id, amount, key=key, memo=memo or "granted")

    async def link_code(self, user: Account) -> str:
        return await self.users.create_link_code(user.id)

    async def link(self, user: Account, code: str) -> Account:
        kept = await self.users.redeem_link_code(code, user.id)
        if self.on_merged is not None:
            await self.on_merged(user.id)
        return kept

    async def identities(self, user: Account) -> list[Identity]:
        return await self.users.identities_of(user.id)
