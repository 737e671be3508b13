"""The shared chat flows of datasets, collections and cook (platforms/chat/datasets.py,
collections.py, cook.py), driven through a small fake ``ChatTurn`` against a real app: what
they find, refuse and say is the same for Telegram and Discord."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from stationthis.core.errors import Forbidden, InvalidInput, NotFound
from stationthis.core.replies import CliReply, Reply
from stationthis.core.users import Account, Identity
from stationthis.platforms.chat import collections, cook, datasets
from stationthis.platforms.chat.turn import Words
from stationthis.workflows.app import App
from stationthis.workflows.cook_text import parse_traits

TG = Words("the group")
DC = Words("the server", "`{}`", "**{}**", "/make prompt:")


class FakeTurn:
    """A turn that records what the flow said; ``allow`` is the speaker's allowance."""

    def __init__(self, user: Account, words: Words = TG, allow: bool = True) -> None:
        self.words = words
        self._user = user
        self.allow = allow
        self.said: list[tuple[str, str]] = []

    async def user(self) -> Account:
        return self._user

    async def group(self) -> Account | None:
        return None

    async def status(self, text: str) -> Reply:
        self.said.append(("status", text))
        return CliReply()

    async def queued(self, address: Reply, text: str) -> None:
        self.said.append(("queued", text))

    async def answer(self, text: str) -> None:
        self.said.append(("answer", text))

    async def fail(self, text: str) -> None:
        self.said.append(("fail", text))

    async def allowed(self, cost: float) -> bool:
        if not self.allow:
            self.said.append(("fail", "slow down"))
        return self.allow


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def fetches(count: int, calls: list[int]) -> list[tuple[datasets.Fetch, str | None]]:
    async def fetch() -> bytes:
        calls.append(1)
        return png()
    return [(fetch, f"a red square {n}") for n in range(count)]


async def person(app: App, name: str) -> Account:
    return await app.users.resolve(Identity("test", name))


async def test_a_dataset_is_found_by_number_name_or_id_and_the_refusal_names_the_list(
        app: App) -> None:
    alice = await person(app, "alice")
    first = await app.datasets.create(alice.id, "Pets")
    second = await app.datasets.create(alice.id, "cars")
    assert (await datasets.find(app, alice, "2", TG)).id == second.id
    assert (await datasets.find(app, alice, "pets", TG)).id == first.id
    assert (await datasets.find(app, alice, first.id, DC)).id == first.id
    with pytest.raises(NotFound, match=r"no dataset named 'boats' \(see `/train list`\)"):
        await datasets.find(app, alice, "boats", DC)
    bob = await person(app, "bob")
    with pytest.raises(NotFound):  # someone else's dataset is not found, even by its id
        await datasets.find(app, bob, first.id, TG)


async def test_photos_that_do_not_fit_or_are_over_the_allowance_add_nothing(app: App) -> None:
    alice = await person(app, "alice")
    ds = await app.datasets.create(alice.id, "pets")
    calls: list[int] = []
    too_many = fetches(app.datasets.max_images + 1, calls)
    with pytest.raises(InvalidInput, match=r"do not fit.*Nothing was added"):
        await datasets.add(FakeTurn(alice), app, ds, too_many)
    slow = FakeTurn(alice, allow=False)
    assert await datasets.add(slow, app, ds, fetches(2, calls)) is None
    assert calls == [] and slow.said == [("fail", "slow down")]
    assert not (await app.datasets.get(alice.id, ds.id)).images
    fresh = await datasets.add(FakeTurn(alice), app, ds, fetches(2, calls))
    assert fresh is not None and len(fresh.images) == 2 and len(calls) == 2
    text = datasets.added_text(2, fresh, app.datasets.readiness(fresh))
    assert text.startswith("Added 2 images to pets: images 2/") and "captions 2/2" in text


async def test_captions_by_number_quote_only_when_ready_and_delete(app: App) -> None:
    alice = await person(app, "alice")
    ds = await app.datasets.create(alice.id, "pets")
    ds = await datasets.add(FakeTurn(alice), app, ds, fetches(1, [])) or ds
    with pytest.raises(InvalidInput, match="pets has images 1…1"):
        await datasets.caption(app, alice, ds, 2, "nope")
    ds = await datasets.caption(app, alice, ds, 1, "  a dog  ")
    assert ds.images[0].caption == "a dog"
    with pytest.raises(InvalidInput, match="pets is not ready to train"):
        await datasets.quote(app, alice, ds)
    assert datasets.delete_question(ds) == "Delete pets and its 1 image?"
    assert await datasets.delete(app, alice, ds.id) == "Dataset pets deleted."
    assert await app.datasets.list_for(alice.id) == []


async def test_collections_are_numbered_as_listed_and_long_names_win(app: App) -> None:
    alice, bob = await person(app, "alice"), await person(app, "bob")
    mine = await app.collections.create(alice, "red")
    longer = await app.collections.create(alice, "red fox")
    theirs = await app.collections.create(bob, "Bob's birds")
    await app.collections.share(bob, theirs.id, "test:alice", "view")
    found, rest = await collections.find(app, alice, ["3", "extra"], TG, "/collections")
    assert found.id == theirs.id and rest == ["extra"]  # shared ones are numbered too
    found, rest = await collections.find(app, alice, ["Red", "fox", "edit"], TG, "/x")
    assert found.id == longer.id and rest == ["edit"]
    assert (await collections.named(app, alice, "red", DC, "/collections list")).id == mine.id
    with pytest.raises(NotFound, match=r"no collection named 'red wolf' \(see `/collections"):
        await collections.named(app, alice, "red wolf", DC, "/collections list")
    shared = await collections.named(app, alice, "bob's birds", TG, "/collections")
    assert collections.refusal(shared, False, TG, "/share") is not None
    with pytest.raises(Forbidden, match=r"You can only view this collection\. Only the owner"):
        collections.check(shared, True, DC, "/collections share")
    await app.collections.share(bob, theirs.id, "test:alice", "edit")
    edit = await collections.named(app, alice, "bob's birds", TG, "/collections")
    assert collections.refusal(edit, False, TG, "/share") is None
    assert collections.refusal(edit, True, TG, "/share") == collections.OWNER_ONLY


async def test_sharing_says_who_can_do_what_in_each_platforms_words(app: App) -> None:
    alice = await person(app, "alice")
    await person(app, "bob")
    c = await app.collections.create(alice, "Trips")
    said = await collections.share(app, alice, c, "test:bob", "edit", DC, "/collections list")
    assert said.startswith("Shared **Trips** with ") and "(edit): they can view and edit" in said
    gone = await collections.share(app, alice, c, "test:bob", "remove", TG, "/collections")
    assert gone == "Trips is no longer shared with test:bob."
    assert collections.deleted_text(c, DC).startswith("🗑 Collection **Trips** deleted")


def test_a_cook_line_and_a_traits_form_read_the_same_traits() -> None:
    line = cook.parse_config("3 | a fox | fur: red*3, city=a big city", "usage")
    form = parse_traits("fur: red*3, city=a big city")
    assert line == {"supply": 3, "master_prompt": "a fox", "trait_types": form}
    assert form == [{"name": "fur", "traits": [{"weight": 3.0, "name": "red"},
                                               {"name": "city", "prompt": "a big city",
                                                "weight": 1}]}]
    with pytest.raises(InvalidInput, match="usage"):
        cook.parse_config("a fox", "usage")
    with pytest.raises(InvalidInput, match="weight after"):
        parse_traits("fur: red*lots")
    with pytest.raises(InvalidInput, match="at least 1"):
        cook.supply("0")


async def test_a_cook_start_is_refused_in_place_of_its_status_message(app: App) -> None:
    alice = await person(app, "alice")
    c = await app.collections.create(alice, "critters")
    slow = FakeTurn(alice, DC, allow=False)
    assert await cook.start(slow, app, c) is None
    assert slow.said == [("fail", "slow down")]  # nothing posted, nothing started
    turn = FakeTurn(alice, DC)
    assert await cook.start(turn, app, c) is None  # no configuration yet
    assert turn.said[0] == ("status", "🍳 Cooking **critters**: starting…")
    assert turn.said[1][0] == "fail" and len(turn.said) == 2
    with pytest.raises(InvalidInput, match="unknown cook control"):
        await cook.control(app, alice, c, "explode")
    assert await cook.current(app, alice, c) is None
