"""Who pays in a group: the policy admins choose, the pool, and refusals."""

from __future__ import annotations

import pytest

from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request


async def people(app: App) -> tuple[Account, Account]:
    user = await app.users.resolve(Identity("telegram", "7"))
    group = await app.users.resolve(Identity("telegram", "-100"), "Studio", kind="group")
    return user, group


async def test_members_pay_by_default_and_the_group_when_it_says_so(app: App) -> None:
    user, group = await people(app)
    assert (await app.groups.view(group)).payer == "user"
    assert (await app.groups.payer(user, group, 10)).id == user.id
    view = await app.groups.set_payer_policy(user, group, "group")
    assert view.payer == "group" and view.pool == 0  # groups get no free allowance
    assert (await app.groups.payer(user, group, 10)).id == group.id
    assert (await app.groups.payer(user, None, 10)).id == user.id  # outside a group


async def test_user_first_moves_to_the_group_when_the_member_is_short(app: App) -> None:
    user, group = await people(app)
    await app.groups.set_payer_policy(None, group, "user-first")
    assert (await app.groups.payer(user, group, 1000)).id == user.id
    assert (await app.groups.payer(user, group, 1001)).id == group.id


async def test_the_group_pool_pays_for_a_members_job(app: App) -> None:
    user, group = await people(app)
    await app.account.grant(group, 300, key="pool")
    await app.groups.set_payer_policy(None, group, "group")
    request = Request("make", {"prompt": "a fox"})
    quote = await app.make_image.quote(user, request, group=group)
    payer = await app.groups.payer(user, group, quote.points)
    job = await app.make_image.make(user, request, payer=payer, group=group)
    await app.jobs.wait(job.id, timeout=10)
    assert (await app.ledger.balance(group.id)).total == 300 - quote.points
    assert (await app.ledger.balance(user.id)).total == 1000


async def test_refusals(app: App) -> None:
    user, group = await people(app)
    with pytest.raises(InvalidInput, match="one of user, group, user_first"):
        await app.groups.set_payer_policy(user, group, "everyone")
    with pytest.raises(InvalidInput, match="not a group"):
        await app.groups.set_payer_policy(user, user, "group")
    await app.users.set_banned(user.id, True)
    banned = await app.users.get(user.id)
    with pytest.raises(Forbidden):
        await app.groups.set_payer_policy(banned, group, "group")
    assert (await app.groups.view(group)).payer == "user"
