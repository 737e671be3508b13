"""Styles and wildcard lists on SQLite and PostgreSQL: saved (and replaced by name, case
aside), listed in name order, kept apart per account, removed; the values come back as they
were given (defaults JSON, weighted items); an account's count is bounded."""

from __future__ import annotations

import pytest

from stationthis.core.db import Database
from stationthis.core.errors import InvalidInput
from stationthis.core.points import AllowancePolicy, Ledger
from stationthis.core.styles import StyleBook, make_style
from stationthis.core.users import Account, Identity, Users
from stationthis.core.wildcards import Item

POLICY = AllowancePolicy(amount=1000, steps=18, interval_seconds=900)


async def account(db: Database, name: str) -> Account:
    return await Users(db, Ledger(db, POLICY), POLICY).resolve(Identity("test", name))


async def test_styles_saved_replaced_listed_and_removed(db: Database) -> None:
    book = StyleBook(db)
    alice, bob = await account(db, "alice"), await account(db, "bob")
    await book.save_style(alice.id, make_style("Noir", "noir, {prompt}", "colour",
                                               {"steps": 12, "cfg": 6.5, "ar": "16:9"}))
    await book.save_style(alice.id, make_style("ink", "ink drawing of {prompt}"))
    await book.save_style(alice.id, make_style("noir", "darker noir, {prompt}"))
    await book.save_style(bob.id, make_style("noir", "bob's noir"))
    mine = await book.styles(alice.id)
    assert [(s.name, s.template) for s in mine] == [("ink", "ink drawing of {prompt}"),
                                                    ("noir", "darker noir, {prompt}")]
    assert mine[1].defaults == {} and mine[1].negative is None  # replaced whole
    await book.save_style(alice.id, make_style("noir", "noir", None, {"cfg": 6.5}))
    found = await book.find_style(alice.id, "NOIR")
    assert found is not None and found.defaults == {"cfg": 6.5}
    assert (await book.find_style(bob.id, "noir")).template == "bob's noir"  # type: ignore[union-attr]
    assert await book.delete_style(alice.id, "noir")
    assert not await book.delete_style(alice.id, "noir")
    assert [s.name for s in await book.styles(alice.id)] == ["ink"]
    assert [s.name for s in await book.styles(bob.id)] == ["noir"]


async def test_wildcard_lists_keep_their_weights(db: Database) -> None:
    book = StyleBook(db)
    alice = await account(db, "alice")
    await book.save_list(alice.id, "__Colours__", ["teal", "red:3", {"value": "ochre",
                                                                      "weight": 0.5}])
    found = await book.find_list(alice.id, "colours")
    assert found is not None
    assert found.items == [Item("teal"), Item("red", 3.0), Item("ochre", 0.5)]
    await book.save_list(alice.id, "colours", "blue, green")
    assert [i.value for i in (await book.lists(alice.id))[0].items] == ["blue", "green"]
    assert await book.delete_list(alice.id, "colours")
    assert await book.lists(alice.id) == []


async def test_an_account_keeps_a_bounded_number(db: Database,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stationthis.core.styles.MAX_PER_ACCOUNT", 2)
    book = StyleBook(db)
    alice = await account(db, "alice")
    await book.save_list(alice.id, "a", ["x"])
    await book.save_list(alice.id, "b", ["x"])
    await book.save_list(alice.id, "b", ["y"])  # replacing one is fine
    with pytest.raises(InvalidInput, match="at most 2 wildcard lists"):
        await book.save_list(alice.id, "c", ["x"])
