"""Groups: who pays for a request made in a group, and the group's points pool.

A group (a Telegram group, a Discord guild) is an account of kind ``group`` that can hold
purchased points. Its admins choose who pays for what its members make there:

- ``user`` (default): each member pays from their own balance; the group pool is not used;
- ``group``: the group pays from its pool ("house");
- ``user_first``: the member pays while their balance covers the price, then the group.

As with group settings, the *caller* checks that whoever changes the policy is an admin of
the group on its platform (the platform knows its admins, we do not).
"""

from __future__ import annotations

from dataclasses import dataclass

from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.points import Ledger
from stationthis.core.preferences import Preferences
from stationthis.core.users import Account

PAYER_KEY = "payer"
PAYERS = ("user", "group", "user_first")
DEFAULT_PAYER = "user"


@dataclass(frozen=True)
class GroupView:
    group: Account
    payer: str  # one of PAYERS
    pool: int  # points the group holds


class Groups:
    def __init__(self, preferences: Preferences, ledger: Ledger) -> None:
        self.preferences = preferences
        self.ledger = ledger

    async def view(self, group: Account) -> GroupView:
        _check_group(group)
        balance = await self.ledger.balance(group.id)
        return GroupView(group, await self.payer_policy(group), balance.total)

    async def payer_policy(self, group: Account) -> str:
        value = (await self.preferences.get(group.id)).get(PAYER_KEY)
        return value if isinstance(value, str) and value in PAYERS else DEFAULT_PAYER

    async def set_payer_policy(
        self, admin_user: Account | None, group: Account, policy: str
    ) -> GroupView:
        """Set who pays (the caller checked that ``admin_user`` is an admin of the group;
        ``None``: an operator)."""
        _check_group(group)
        if admin_user is not None and admin_user.banned:
            raise Forbidden("This account is blocked from changing settings.")
        name = policy.strip().lower().replace("-", "_")
        if name not in PAYERS:
            raise InvalidInput(f"who pays must be one of {', '.join(PAYERS)} (got {policy!r})",
                               input="payer")
        await self.preferences.set(group.id, PAYER_KEY, name)
        return await self.view(group)

    async def payer(self, user: Account, group: Account | None, points: int) -> Account:
        """The account that pays ``points`` for ``user``'s request in ``group``."""
        if group is None or group.kind != "group":
            return user
        policy = await self.payer_policy(group)
        if policy == "group":
            return group
        if policy == "user_first":
            mine = await self.ledger.balance(user.id)
            return user if mine.total >= points else group
        return user


def _check_group(group: Account) -> None:
    if group.kind != "group":
        raise InvalidInput(f"{group.name} is not a group")
