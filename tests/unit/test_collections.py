"""Collections: every operation and every permission rule — create, rename, describe,
delete; items (outputs and uploads), order, descriptions, thumbnails and paging; sharing
with users (view / edit, changed, revoked); share links (expiry, status, revoke); account
linking moves collections."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import update

from stationthis.core.collections_sharing import EXPIRIES
from stationthis.core.errors import Conflict, Forbidden, InvalidImage, InvalidInput, NotFound
from stationthis.core.schema import collection_links
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import png


async def user(app: App, name: str) -> Account:
    return await app.users.resolve(Identity("web", name))


async def output(app: App, owner: Account, prompt: str = "a red fox") -> str:
    job = await app.make_image.make(owner, Request("make", {"prompt": prompt}))
    done = await app.jobs.wait(job.id, timeout=30)
    assert done.state == "succeeded", done.error
    return done.outputs[0]


async def test_create_rename_describe_list_and_delete(app: App) -> None:
    alice = await user(app, "alice")
    made = await app.collections.create(alice, "  Night   owls ", "birds after dark")
    assert (made.name, made.description, made.items, made.access) == (
        "Night owls", "birds after dark", 0, "owner")
    with pytest.raises(Conflict, match="already have a collection named"):
        await app.collections.create(alice, "night OWLS")
    renamed = await app.collections.rename(alice, made.id, "Owls")
    assert renamed.name == "Owls"
    described = await app.collections.describe(alice, made.id, "  ")
    assert described.description is None
    await app.collections.create(alice, "Foxes")
    assert [c.name for c in await app.collections.mine(alice)] == ["Owls", "Foxes"]
    await app.collections.delete(alice, made.id)
    assert [c.name for c in await app.collections.mine(alice)] == ["Foxes"]
    with pytest.raises(NotFound):
        await app.collections.view(alice, made.id)


async def test_bad_names_and_texts_are_refused(app: App) -> None:
    alice = await user(app, "alice")
    with pytest.raises(InvalidInput, match="1–100 characters"):
        await app.collections.create(alice, "   ")
    with pytest.raises(InvalidInput, match="1–100 characters"):
        await app.collections.create(alice, "x" * 101)
    made = await app.collections.create(alice, "ok")
    with pytest.raises(InvalidInput, match="at most 2000"):
        await app.collections.describe(alice, made.id, "y" * 2001)
    assert (await app.collections.view(alice, made.id)).description is None


async def test_items_outputs_uploads_order_descriptions_and_paging(app: App) -> None:
    alice = await user(app, "alice")
    c = await app.collections.create(alice, "Mixed")
    first = await app.collections.add_output(alice, c.id, await output(app, alice), "fox")
    second = await app.collections.add_upload(alice, c.id, png(80, 60, (10, 200, 10)))
    third = await app.collections.add_output(alice, c.id, await output(app, alice, "owl"))
    assert [first.position, second.position, third.position] == [1, 2, 3]
    edited = await app.collections.edit_item(alice, c.id, second.id, "my upload")
    assert edited.description == "my upload"
    page = await app.collections.move_item(alice, c.id, third.id, 1)
    assert [i.id for i in page.items] == [third.id, first.id, second.id]
    page1 = await app.collections.items(alice, c.id, page=1, per_page=2)
    page2 = await app.collections.items(alice, c.id, page=2, per_page=2)
    assert (page1.total, page1.pages, len(page1.items), len(page2.items)) == (3, 2, 2, 1)
    assert page2.items[0].id == second.id
    with pytest.raises(InvalidInput, match="positions go from 1 to 3"):
        await app.collections.move_item(alice, c.id, first.id, 9)
    await app.collections.remove_item(alice, c.id, first.id)
    assert (await app.collections.view(alice, c.id)).items == 2
    with pytest.raises(NotFound):
        await app.collections.remove_item(alice, c.id, first.id)
    with pytest.raises(InvalidInput, match="pages start at 1"):
        await app.collections.items(alice, c.id, page=0)


async def test_an_upload_that_is_not_an_image_adds_nothing(app: App) -> None:
    alice = await user(app, "alice")
    c = await app.collections.create(alice, "Uploads")
    with pytest.raises(InvalidImage):
        await app.collections.add_upload(alice, c.id, b"not an image at all")
    assert (await app.collections.view(alice, c.id)).items == 0


async def test_thumbnails_are_small_and_made_once(app: App) -> None:
    alice = await user(app, "alice")
    c = await app.collections.create(alice, "Big")
    item = await app.collections.add_upload(alice, c.id, png(1024, 512))
    thumb = await app.collections.thumbnail(alice, c.id, item.id)
    image = Image.open(io.BytesIO(thumb))
    assert image.format == "JPEG" and max(image.size) <= app.settings.thumbnail_size
    puts_before = len(list((app.settings.data_dir / "media" / "thumbs").iterdir()))
    assert await app.collections.thumbnail(alice, c.id, item.id) == thumb
    assert len(list((app.settings.data_dir / "media" / "thumbs").iterdir())) == puts_before == 1


async def test_another_users_collection_and_images_do_not_exist(app: App) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    c = await app.collections.create(alice, "Private")
    item = await app.collections.add_upload(alice, c.id, png())
    for call in (
        app.collections.view(bob, c.id),
        app.collections.items(bob, c.id),
        app.collections.rename(bob, c.id, "mine now"),
        app.collections.delete(bob, c.id),
        app.collections.thumbnail(bob, c.id, item.id),
        app.collections.create_link(bob, c.id),
        app.collections.share(bob, c.id, "web:bob", "edit"),
    ):
        with pytest.raises(NotFound, match="no such collection"):
            await call
    # nor can anyone add someone else's image to their own collection
    mine = await app.collections.create(bob, "Bob's")
    with pytest.raises(NotFound, match="no such image"):
        await app.collections.add_output(bob, mine.id, item.media_id)
    assert (await app.collections.view(alice, c.id)).name == "Private"


async def test_view_share_reads_but_cannot_change(app: App) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    c = await app.collections.create(alice, "Shared")
    item = await app.collections.add_upload(alice, c.id, png())
    shared = await app.collections.share(alice, c.id, "bob", "view")
    assert (shared.user, shared.share.permission) == ("web:bob", "view")
    seen = await app.collections.shared_with_me(bob)
    assert [(s.name, s.access) for s in seen] == [("Shared", "view")]
    assert (await app.collections.items(bob, c.id)).items[0].id == item.id
    assert await app.collections.thumbnail(bob, c.id, item.id)
    for call in (
        app.collections.rename(bob, c.id, "x"),
        app.collections.describe(bob, c.id, "x"),
        app.collections.add_upload(bob, c.id, png()),
        app.collections.edit_item(bob, c.id, item.id, "x"),
        app.collections.remove_item(bob, c.id, item.id),
        app.collections.move_item(bob, c.id, item.id, 1),
    ):
        with pytest.raises(Forbidden, match="you can only view this collection"):
            await call
    with pytest.raises(Forbidden, match="only the owner"):
        await app.collections.delete(bob, c.id)
    assert (await app.collections.view(alice, c.id)).items == 1


async def test_edit_share_changes_items_but_not_sharing_or_deletion(app: App) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    c = await app.collections.create(alice, "Team")
    await app.collections.share(alice, c.id, "web:bob", "edit")
    added = await app.collections.add_output(bob, c.id, await output(app, bob))
    assert added.added_by == bob.id
    await app.collections.rename(bob, c.id, "Team board")
    assert (await app.collections.view(alice, c.id)).name == "Team board"
    for call in (
        app.collections.delete(bob, c.id),
        app.collections.share(bob, c.id, "web:carol", "view"),
        app.collections.create_link(bob, c.id),
        app.collections.shares(bob, c.id),
    ):
        with pytest.raises(Forbidden, match="only the owner"):
            await call


async def test_the_owner_changes_and_revokes_a_share(app: App) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    c = await app.collections.create(alice, "Shared")
    await app.collections.share(alice, c.id, "web:bob", "edit")
    await app.collections.share(alice, c.id, "web:bob", "view")  # changed, not duplicated
    shares = await app.collections.shares(alice, c.id)
    assert [(s.user, s.share.permission) for s in shares] == [("web:bob", "view")]
    with pytest.raises(Forbidden):
        await app.collections.rename(bob, c.id, "x")
    await app.collections.unshare(alice, c.id, "web:bob")
    assert await app.collections.shared_with_me(bob) == []
    with pytest.raises(NotFound):
        await app.collections.view(bob, c.id)
    with pytest.raises(NotFound, match="not shared with web:bob"):
        await app.collections.unshare(alice, c.id, "web:bob")


async def test_sharing_needs_an_existing_user_and_a_known_permission(app: App) -> None:
    alice = await user(app, "alice")
    await user(app, "bob")
    c = await app.collections.create(alice, "Shared")
    with pytest.raises(NotFound, match="no StationThis user telegram:999"):
        await app.collections.share(alice, c.id, "telegram:999", "view")
    with pytest.raises(InvalidInput, match="'view' or 'edit'"):
        await app.collections.share(alice, c.id, "bob", "admin")
    with pytest.raises(InvalidInput, match="already yours"):
        await app.collections.share(alice, c.id, "alice", "view")
    assert await app.collections.shares(alice, c.id) == []


async def test_share_links_expire_are_revoked_and_say_why(app: App) -> None:
    alice = await user(app, "alice")
    c = await app.collections.create(alice, "Public", "for everyone")
    item = await app.collections.add_upload(alice, c.id, png())
    links = {e: await app.collections.create_link(alice, c.id, e) for e in EXPIRIES}
    assert all(len(link.token) == 32 and int(link.token, 16) >= 0 for link in links.values())
    assert len({link.token for link in links.values()}) == 4
    assert links["never"].expires_at is None
    day = links["24h"]
    assert day.expires_at is not None
    assert abs((day.expires_at - day.created_at) - timedelta(hours=24)) < timedelta(seconds=1)
    view = await app.collections.open_link(day.token)
    assert (view.collection.name, view.items.total) == ("Public", 1)
    assert await app.collections.link_image(day.token, item.id, thumbnail=True)
    # a day later
    async with app.db.write() as conn:
        await conn.execute(update(collection_links)
                           .where(collection_links.c.token == day.token)
                           .values(expires_at=day.created_at - timedelta(seconds=1)))
    with pytest.raises(Forbidden, match="has expired"):
        await app.collections.open_link(day.token)
    with pytest.raises(Forbidden, match="has expired"):
        await app.collections.link_image(day.token, item.id)
    week = links["7d"]
    await app.collections.revoke_link(alice, c.id, week.token)
    with pytest.raises(Forbidden, match="revoked"):
        await app.collections.open_link(week.token)
    with pytest.raises(Conflict, match="already revoked"):
        await app.collections.revoke_link(alice, c.id, week.token)
    statuses = {link.token: link.status for link in await app.collections.links(alice, c.id)}
    assert statuses == {day.token: "expired", week.token: "revoked",
                        links["30d"].token: "active", links["never"].token: "active"}
    with pytest.raises(NotFound, match="does not exist"):
        await app.collections.open_link("0" * 32)
    with pytest.raises(InvalidInput, match="24h, 7d, 30d, never"):
        await app.collections.create_link(alice, c.id, "1y")


async def test_a_link_of_a_deleted_collection_no_longer_exists(app: App) -> None:
    alice = await user(app, "alice")
    c = await app.collections.create(alice, "Gone")
    link = await app.collections.create_link(alice, c.id, "never")
    await app.collections.delete(alice, c.id)
    with pytest.raises(NotFound):
        await app.collections.open_link(link.token)


async def test_linking_accounts_moves_collections_and_shares(app: App) -> None:
    tg = await app.users.resolve(Identity("telegram", "77"))
    web = await user(app, "alice")
    carol = await user(app, "carol")
    await app.collections.create(web, "Owls")
    theirs = await app.collections.create(tg, "Owls")
    await app.collections.add_upload(tg, theirs.id, png())
    shared = await app.collections.create(carol, "Carol's")
    await app.collections.share(carol, shared.id, "telegram:77", "edit")
    code = await app.users.create_link_code(web.id)
    await app.users.redeem_link_code(code, tg.id)
    names = sorted(c.name for c in await app.collections.mine(web))
    assert names == ["Owls", "Owls 2"]
    assert [(c.name, c.access) for c in await app.collections.shared_with_me(web)] == [
        ("Carol's", "edit")]
    moved = next(c for c in await app.collections.mine(web) if c.name == "Owls 2")
    assert moved.items == 1
