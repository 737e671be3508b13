"""Users and platform identities on SQLite and PostgreSQL: first sight, the free allowance,
concurrent first sight, and one-time link codes that merge two accounts into one."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stationthis.core.db import Database, utcnow
from stationthis.core.errors import InvalidInput
from stationthis.core.points import AllowancePolicy, Ledger
from stationthis.core.schema import accounts, link_codes
from stationthis.core.users import Identity, Users

POLICY = AllowancePolicy(amount=1000, steps=18, interval_seconds=900)
ALICE_TG = Identity("telegram", "1001")
ALICE_WEB = Identity("web", "alice")


@pytest.fixture
def ledger(db: Database) -> Ledger:
    return Ledger(db, POLICY)


@pytest.fixture
def users(db: Database, ledger: Ledger) -> Users:
    return Users(db, ledger, POLICY)


async def spend(ledger: Ledger, account_id: str, amount: int, ref: str) -> None:
    """A whole job's worth of spending: hold the amount, then capture all of it."""
    async with ledger.db.write() as conn:
        await ledger.hold(conn, account_id, amount, ref=ref)
    async with ledger.db.write() as conn:
        await ledger.settle(conn, ref, amount)


async def account_count(db: Database) -> int:
    async with db.read() as conn:
        return len((await conn.execute(select(accounts.c.id))).all())


# ----- identities ------------------------------------------------------------------------------


async def test_the_same_identity_resolves_to_one_user(users: Users, db: Database) -> None:
    first = await users.resolve(ALICE_TG, "Alice")
    again = await users.resolve(ALICE_TG, "Alice in Wonderland")
    assert again.id == first.id
    assert first.kind == "user" and first.name == "Alice"
    assert await users.identities_of(first.id) == [ALICE_TG]
    assert await account_count(db) == 1


async def test_different_identities_are_different_users(users: Users) -> None:
    alice = await users.resolve(ALICE_TG)
    bob = await users.resolve(Identity("telegram", "2002"))
    web = await users.resolve(Identity("web", "1001"))  # same id, other platform
    assert len({alice.id, bob.id, web.id}) == 3


async def test_a_new_user_starts_with_the_full_free_allowance(users: Users, ledger: Ledger) -> None:
    alice = await users.resolve(ALICE_TG)
    balance = await ledger.balance(alice.id)
    assert (balance.allowance, balance.credit) == (POLICY.amount, 0)
    assert balance.next_refill_at is None  # nothing to refill yet
    history = await ledger.history(alice.id)
    assert [(e.kind, e.amount) for e in history] == [("allowance", POLICY.amount)]
    assert await ledger.verify(alice.id)


async def test_a_group_has_no_free_allowance(users: Users, ledger: Ledger) -> None:
    group = await users.resolve(Identity("telegram", "-100500"), "Cat pics", kind="group")
    assert group.kind == "group"
    assert (await ledger.balance(group.id)).total == 0
    assert await ledger.verify(group.id)


async def test_concurrent_first_sight_creates_one_account(db: Database, ledger: Ledger) -> None:
    """Ten requests from a brand-new user at once (a burst of messages): one account, one
    allowance, one welcome grant."""
    users = Users(db, ledger, POLICY, new_user_grant=50)
    seen = await asyncio.gather(*(users.resolve(ALICE_TG, "Alice") for _ in range(10)))
    assert len({account.id for account in seen}) == 1
    assert await account_count(db) == 1
    balance = await ledger.balance(seen[0].id)
    assert (balance.allowance, balance.credit) == (POLICY.amount, 50)
    assert await ledger.verify(seen[0].id)


async def test_a_banned_user_stays_banned(users: Users) -> None:
    alice = await users.resolve(ALICE_TG)
    await users.set_banned(alice.id, True)
    assert (await users.resolve(ALICE_TG)).banned
    await users.set_banned(alice.id, False)
    assert not (await users.get(alice.id)).banned


# ----- link codes ------------------------------------------------------------------------------


async def test_redeeming_a_code_merges_the_two_accounts(users: Users, ledger: Ledger) -> None:
    """Alice shows a code on Telegram and enters it on the Web: one user, both identities,
    the Web account's purchased credit moved to the Telegram account through the ledger."""
    tg = await users.resolve(ALICE_TG)
    web = await users.resolve(ALICE_WEB)
    await ledger.grant(tg.id, 100, key="purchase:tg")
    await ledger.grant(web.id, 300, key="purchase:web")
    await spend(ledger, web.id, 1050, "job:web1")  # all the allowance and 50 credit

    code = await users.create_link_code(tg.id)
    merged = await users.redeem_link_code(code, web.id)

    assert merged.id == tg.id
    assert set(await users.identities_of(tg.id)) == {ALICE_TG, ALICE_WEB}
    assert (await users.resolve(ALICE_WEB)).id == tg.id
    assert await users.identities_of(web.id) == []
    assert (await ledger.balance(tg.id)).credit == 100 + 250
    assert (await ledger.balance(web.id)).credit == 0
    transfers = {
        account: [e.amount for e in await ledger.history(account) if e.kind == "transfer"]
        for account in (tg.id, web.id)
    }
    assert transfers == {tg.id: [250], web.id: [-250]}
    assert await ledger.verify(tg.id)
    assert await ledger.verify(web.id)


async def test_a_code_is_case_and_space_insensitive(users: Users) -> None:
    tg = await users.resolve(ALICE_TG)
    web = await users.resolve(ALICE_WEB)
    code = await users.create_link_code(tg.id)
    assert (await users.redeem_link_code(f"  {code.lower()} ", web.id)).id == tg.id


async def test_a_used_code_is_refused(users: Users) -> None:
    tg = await users.resolve(ALICE_TG)
    web = await users.resolve(ALICE_WEB)
    other = await users.resolve(Identity("discord", "42"))
    code = await users.create_link_code(tg.id)
    await users.redeem_link_code(code, web.id)
    with pytest.raises(InvalidInput, match="already used"):
        await users.redeem_link_code(code, other.id)
    assert await users.identities_of(other.id) == [Identity("discord", "42")]


async def test_an_unknown_code_is_refused(users: Users) -> None:
    web = await users.resolve(ALICE_WEB)
    with pytest.raises(InvalidInput, match="unknown"):
        await users.redeem_link_code("NOSUCHCD", web.id)


async def test_an_expired_code_is_refused(users: Users, db: Database) -> None:
    tg = await users.resolve(ALICE_TG)
    web = await users.resolve(ALICE_WEB)
    code = await users.create_link_code(tg.id)
    async with db.write() as conn:
        await conn.execute(
            update(link_codes)
            .where(link_codes.c.code == code)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(InvalidInput, match="expired"):
        await users.redeem_link_code(code, web.id)
    assert await users.identities_of(web.id) == [ALICE_WEB]  # nothing was merged


async def test_redeeming_your_own_code_is_refused(users: Users) -> None:
    tg = await users.resolve(ALICE_TG)
    code = await users.create_link_code(tg.id)
    with pytest.raises(InvalidInput, match="same account"):
        await users.redeem_link_code(code, tg.id)
    assert await users.identities_of(tg.id) == [ALICE_TG]


async def test_a_refund_after_linking_reaches_the_linked_account(
    users: Users, ledger: Ledger
) -> None:
    """A job paid on the Web is still running when Alice links the Web to Telegram. When it
    finishes (or fails), the unused part of its hold must come back to the account she now
    uses, not to the emptied Web account that no identity leads to any more."""
    tg = await users.resolve(ALICE_TG)
    web = await users.resolve(ALICE_WEB)
    await ledger.grant(web.id, 500, key="purchase:web")
    async with ledger.db.write() as conn:
        await ledger.hold(conn, web.id, 1200, ref="job:running")  # 1000 allowance + 200 credit

    await users.redeem_link_code(await users.create_link_code(tg.id), web.id)
    async with ledger.db.write() as conn:
        await ledger.release(conn, "job:running")  # the job failed: nothing is charged

    assert (await ledger.balance(tg.id)).credit == 300 + 200
    assert await ledger.verify(tg.id) and await ledger.verify(web.id)


async def test_an_old_code_of_a_merged_account_links_to_where_it_went(users: Users) -> None:
    """Alice asks for a code on Telegram, then links Telegram into Discord with a Discord
    code, then enters the first code on the Web: all three identities must end up on one
    user — not on the emptied Telegram account."""
    discord_id = Identity("discord", "42")
    tg = await users.resolve(ALICE_TG)
    discord = await users.resolve(discord_id)
    web = await users.resolve(ALICE_WEB)
    tg_code = await users.create_link_code(tg.id)
    await users.redeem_link_code(await users.create_link_code(discord.id), tg.id)

    linked = await users.redeem_link_code(tg_code, web.id)

    assert set(await users.identities_of(linked.id)) == {ALICE_TG, discord_id, ALICE_WEB}
    assert (await users.resolve(ALICE_WEB)).id == (await users.resolve(ALICE_TG)).id


# ----- Identity.parse --------------------------------------------------------------------------


def test_parse_platform_and_id() -> None:
    assert Identity.parse("telegram:123") == Identity("telegram", "123")
    assert Identity.parse(" Discord : 42 ") == Identity("discord", "42")
    assert str(Identity.parse("telegram:123")) == "telegram:123"


def test_parse_a_bare_name_uses_the_default_platform() -> None:
    assert Identity.parse("alice") == Identity("web", "alice")
    assert Identity.parse("alice", default_platform="discord") == Identity("discord", "alice")


@pytest.mark.parametrize(
    "text", ["", "   ", "telegram:", ":123", "tele gram:1", "tg-x:1", "web:" + "x" * 201]
)
def test_parse_refuses_bad_input_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidInput, match="PLATFORM:ID"):
        Identity.parse(text)
