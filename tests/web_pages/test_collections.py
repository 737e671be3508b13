"""Collection pages: my collections, "add to collection" from a job, the collection page
(thumbnails in pages, descriptions, order, uploads, removal), sharing with a user (view-only
sees no edit forms and is refused), share links and their public page (valid, expired,
revoked, unknown), and a dataset made from a collection."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta

from PIL import Image
from sqlalchemy import update

from stationthis.core.db import utcnow
from stationthis.core.schema import collection_links
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser

_LOCATION = re.compile(r"^/collections/([^/?#]+)")


def png(colour: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, "PNG")
    return buffer.getvalue()


async def create(browser: Browser, name: str = "Foxes", description: str = "") -> str:
    await browser.get("/collections")
    made = await browser.post("/collections", {"name": name, "description": description})
    assert made.status_code == 303, made.text
    found = _LOCATION.match(made.headers["location"])
    assert found
    return found.group(1)


async def account_of(app: App, name: str) -> Account:
    return await app.users.resolve(Identity("web", name))


async def test_add_a_made_image_to_a_new_collection_then_edit_it(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    empty = await browser.get("/collections")
    assert 'id="no-collections"' in empty.text and 'href="/collections"' in empty.text
    run = await browser.post("/studio/run", {"tool": "make", "prompt": "a red fox"})
    job = await station_app.jobs.wait(run.headers["location"].removeprefix("/jobs/"), 60)
    media_id = job.outputs[0]
    results = await browser.get(f"/jobs/{job.id}/results")
    assert f'href="/collections/add?media={media_id}"' in results.text
    image_page = await browser.get(f"/gallery/{media_id}")
    assert f'href="/collections/add?media={media_id}"' in image_page.text

    form = await browser.get(f"/collections/add?media={media_id}")
    assert 'id="new-name"' in form.text and "<select" not in form.text  # nothing to pick yet
    added = await browser.post("/collections/add", {"media": media_id, "new_name": "Foxes",
                                                    "description": "the first fox"})
    assert added.status_code == 303, added.text
    cid = _LOCATION.match(added.headers["location"]).group(1)  # type: ignore[union-attr]
    shown = await browser.get(added.headers["location"])
    assert 'id="added"' in shown.text and shown.text.count('class="item"') == 1
    assert 'value="the first fox"' in shown.text
    assert f'/api/v1/collections/{cid}/items/' in shown.text

    # a second image goes to the same collection, picked from the list
    await browser.post("/collections/add", {"media": media_id, "collection": cid})
    upload = await browser.client.post(
        f"/collections/{cid}/uploads", data={"csrf": browser.csrf},
        files=[("files", ("a.png", png((1, 1, 1)), "image/png")),
               ("files", ("b.png", png((200, 1, 1)), "image/png"))])
    assert upload.status_code == 303, upload.text
    alice = await account_of(station_app, "alice")
    items = (await station_app.collections.items(alice, cid)).items
    assert [i.position for i in items] == [1, 2, 3, 4]

    last = items[-1]
    await browser.get(f"/collections/{cid}")
    moved = await browser.post(f"/collections/{cid}/items/{last.id}/move", {"position": "1"})
    assert moved.status_code == 303
    order = [i.id for i in (await station_app.collections.items(alice, cid)).items]
    assert order == [last.id, items[0].id, items[1].id, items[2].id]
    page_ = (await browser.get(f"/collections/{cid}")).text
    assert page_.index(f'id="item-{last.id}"') < page_.index(f'id="item-{items[0].id}"')
    bad = await browser.post(f"/collections/{cid}/items/{last.id}/move", {"position": "99"})
    assert bad.status_code == 400 and "positions go from 1 to 4" in bad.text

    await browser.post(f"/collections/{cid}/items/{items[1].id}/describe",
                       {"description": "a copy"})
    await browser.post(f"/collections/{cid}/items/{items[2].id}/remove")
    left = (await station_app.collections.items(alice, cid)).items
    assert [(i.id, i.description) for i in left] == [
        (last.id, None), (items[0].id, "the first fox"), (items[1].id, "a copy")]

    renamed = await browser.post(f"/collections/{cid}/edit", {"name": "Red foxes",
                                                              "description": "all red"})
    assert renamed.status_code == 303
    assert 'id="collection-name">Red foxes' in (await browser.get(f"/collections/{cid}")).text
    clash = await create(browser, "Owls")
    refused = await browser.post(f"/collections/{clash}/edit", {"name": "red foxes"})
    assert refused.status_code == 409 and "already exists" in refused.text


async def test_items_are_shown_in_pages(web: Callable[[], Browser], station_app: App) -> None:
    browser = web()
    await browser.sign_up("alice")
    cid = await create(browser, "Many")
    alice = await account_of(station_app, "alice")
    for n in range(26):
        await station_app.collections.add_upload(alice, cid, png((n * 9, 0, 0)))
    first = await browser.get(f"/collections/{cid}")
    assert first.text.count('class="item"') == 24 and "page 1 of 2" in first.text
    second = await browser.get(f"/collections/{cid}?page=2")
    assert second.text.count('class="item"') == 2 and 'rel="prev"' in second.text


async def test_sharing_view_only_then_edit_and_strangers_see_nothing(
    web: Callable[[], Browser], station_app: App,
) -> None:
    alice, bob, carol = web(), web(), web()
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    await carol.sign_up("carol")
    cid = await create(alice, "Shared")
    owner = await account_of(station_app, "alice")
    item = await station_app.collections.add_upload(owner, cid, png())
    await alice.get(f"/collections/{cid}")
    shared = await alice.post(f"/collections/{cid}/shares", {"user": "bob",
                                                             "permission": "view"})
    assert shared.status_code == 303
    assert "web:bob" in (await alice.get(f"/collections/{cid}")).text
    nobody = await alice.post(f"/collections/{cid}/shares", {"user": "zed"})
    assert nobody.status_code == 404 and "no StationThis user web:zed" in nobody.text

    listed = await bob.get("/collections")
    assert f'href="/collections/{cid}"' in listed.text and "view</td>" in listed.text
    viewed = await bob.get(f"/collections/{cid}")
    assert viewed.status_code == 200 and "view only" in viewed.text
    assert 'action="/collections/' + cid + '/uploads"' not in viewed.text
    assert 'id="sharing"' not in viewed.text  # sharing is the owner's
    refused = await bob.post(f"/collections/{cid}/items/{item.id}/describe",
                             {"description": "mine"})
    assert refused.status_code == 403 and "only view" in refused.text

    await alice.post(f"/collections/{cid}/shares", {"user": "web:bob", "permission": "edit"})
    await bob.get(f"/collections/{cid}")
    allowed = await bob.post(f"/collections/{cid}/items/{item.id}/describe",
                             {"description": "his words"})
    assert allowed.status_code == 303
    assert (await station_app.collections.item(owner, cid, item.id)).description == "his words"

    stranger = await carol.get(f"/collections/{cid}")
    assert stranger.status_code == 404 and "no such collection" in stranger.text
    sneaky = await carol.post(f"/collections/{cid}/delete")
    assert sneaky.status_code == 404

    await alice.post(f"/collections/{cid}/shares/remove", {"user": "web:bob"})
    assert (await bob.get(f"/collections/{cid}")).status_code == 404


async def test_share_links_open_signed_out_until_expired_or_revoked(
    web: Callable[[], Browser], station_app: App,
) -> None:
    alice, anyone = web(), web()
    await alice.sign_up("alice")
    cid = await create(alice, "On show", "for everyone")
    owner = await account_of(station_app, "alice")
    item = await station_app.collections.add_upload(owner, cid, png(), "a blue square")
    await alice.get(f"/collections/{cid}")
    for expiry in ("24h", "never"):
        made = await alice.post(f"/collections/{cid}/links", {"expires": expiry})
        assert made.status_code == 303
    day, forever = await station_app.collections.links(owner, cid)
    listed = (await alice.get(f"/collections/{cid}")).text
    assert listed.count('data-status="active"') == 2 and f"/c/{day.token}" in listed

    public = await anyone.get(f"/c/{day.token}")
    assert public.status_code == 200
    assert 'id="shared-name">On show' in public.text and "a blue square" in public.text
    assert "for everyone" in public.text and "works until" in public.text
    assert public.headers["referrer-policy"] == "no-referrer"  # the token stays here
    thumb = await anyone.get(f"/api/v1/links/{day.token}/items/{item.id}/thumbnail")
    assert thumb.status_code == 200
    assert "Sign out" not in public.text and "<form" not in public.text  # read-only

    async with station_app.db.write() as conn:
        await conn.execute(update(collection_links).where(collection_links.c.token == day.token)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await anyone.get(f"/c/{day.token}")
    assert expired.status_code == 410 and 'id="link-gone"' in expired.text
    assert "expired" in expired.text and "a blue square" not in expired.text
    assert 'data-status="expired"' in (await alice.get(f"/collections/{cid}")).text

    revoked = await alice.post(f"/collections/{cid}/links/{forever.token}/revoke")
    assert revoked.status_code == 303
    gone = await anyone.get(f"/c/{forever.token}")
    assert gone.status_code == 410 and "revoked" in gone.text
    assert (await anyone.get("/c/" + "f" * 32)).status_code == 404


async def test_a_dataset_from_a_collection_and_deleting_it(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    cid = await create(browser, "Styles")
    owner = await account_of(station_app, "alice")
    for n in range(4):
        await station_app.collections.add_upload(owner, cid, png((n * 40, 9, 9)), f"style {n}")
    shown = await browser.get(f"/collections/{cid}")
    assert 'id="export-nft"' in shown.text and 'id="export-captions"' in shown.text
    made = await browser.post(f"/collections/{cid}/dataset", {"name": "styles set"})
    assert made.status_code == 303 and made.headers["location"].startswith("/datasets/")
    dataset_page = await browser.get(made.headers["location"])
    assert "style 2" in dataset_page.text
    deleted = await browser.post(f"/collections/{cid}/delete")
    assert deleted.headers["location"] == "/collections"
    assert (await browser.get(f"/collections/{cid}")).status_code == 404


async def test_signed_out_is_sent_to_sign_in(web: Callable[[], Browser]) -> None:
    answer = await web().get("/collections")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
