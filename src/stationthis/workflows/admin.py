"""Administration of accounts: bans and tiers, and what an operator sees of a user.

These are operator / admin actions: the caller (the CLI, or a platform after checking its
own admin list) decides who may use them.
"""

from __future__ import annotations

from dataclasses import dataclass

from stationthis.core.errors import InvalidInput
from stationthis.core.points import Balance, Ledger
from stationthis.core.users import Account, Identity, Users
from stationthis.workflows.limits import TierPolicy


@dataclass(frozen=True)
class AccountView:
    account: Account
    identities: list[Identity]
    tier: str  # the tier whose limits apply (an unknown tier counts as free)
    balance: Balance


class AdminWorkflow:
    def __init__(self, users: Users, ledger: Ledger, tiers: TierPolicy) -> None:
        self.users = users
        self.ledger = ledger
        self.tiers = tiers

    async def show(self, account: Account) -> AccountView:
        fresh = await self.users.get(account.id)
        return AccountView(
            fresh, await self.users.identities_of(fresh.id), self.tiers.name(fresh.tier),
            await self.ledger.balance(fresh.id),
        )

    async def ban(self, account: Account) -> Account:
        """Refuse the account's generations (quote and make) until it is unbanned."""
        await self.users.set_banned(account.id, True)
        return await self.users.get(account.id)

    async def unban(self, account: Account) -> Account:
        await self.users.set_banned(account.id, False)
        return await self.users.get(account.id)

    async def set_tier(self, account: Account, tier: str) -> Account:
        """Put the account on one of the configured tiers."""
        found = [t for t in self.tiers.tiers if t.lower() == tier.strip().lower()]
        if not found:
            raise InvalidInput(
                f"unknown tier {tier!r}; tiers: {', '.join(sorted(self.tiers.tiers))}"
            )
        await self.users.set_tier(account.id, found[0])
        return await self.users.get(account.id)
