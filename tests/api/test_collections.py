"""Collections over the REST API: create / list / rename / delete, items (outputs and uploads,
descriptions, order, paging, thumbnails), sharing with users (view vs edit, change, revoke)
and share links (valid, expired, revoked, unknown) read without signing in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from stationthis.core.db import utcnow
from stationthis.core.schema import collection_links
from stationthis.workflows.app import App
from tests.api.conftest import error_of, finished
from tests.support.scripted import png

API = "/api/v1/collections"


async def new_collection(client: httpx.AsyncClient, name: str = "Foxes",
                         **extra: Any) -> dict[str, Any]:
    answer = await client.post(API, json={"name": name, **extra})
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def upload(client: httpx.AsyncClient, cid: str, color: tuple[int, int, int] = (1, 2, 3),
                 description: str | None = None) -> dict[str, Any]:
    data = {"description": description} if description else {}
    answer = await client.post(f"{API}/{cid}/uploads", data=data,
                               files={"file": ("a.png", png(color=color), "image/png")})
    assert answer.status_code == 201, answer.text
    item: dict[str, Any] = answer.json()
    return item


async def made_image(client: httpx.AsyncClient) -> str:
    job = (await client.post("/api/v1/jobs", json={"options": {"prompt": "a fox"}})).json()
    done = await finished(client, job["id"])
    assert done["state"] == "succeeded"
    return str(done["outputs"][0])


async def test_create_list_rename_describe_delete(alice: httpx.AsyncClient) -> None:
    made = await new_collection(alice, "Foxes", description="red ones")
    assert made["access"] == "owner" and made["items"] == 0 and made["description"] == "red ones"
    clash = await alice.post(API, json={"name": "foxes"})
    assert clash.status_code == 409 and error_of(clash)["code"] == "conflict"
    empty = await alice.post(API, json={"name": "   "})
    assert empty.status_code == 400
    changed = await alice.patch(f"{API}/{made['id']}", json={"name": "Owls", "description": ""})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Owls" and changed.json()["description"] is None
    listed = (await alice.get(API)).json()
    assert [c["name"] for c in listed["mine"]] == ["Owls"] and listed["shared_with_me"] == []
    assert (await alice.delete(f"{API}/{made['id']}")).json() == {"ok": True}
    gone = await alice.get(f"{API}/{made['id']}")
    assert gone.status_code == 404 and error_of(gone)["code"] == "not_found"


async def test_items_add_describe_reorder_page_and_remove(alice: httpx.AsyncClient) -> None:
    c = await new_collection(alice)
    media_id = await made_image(alice)
    added = await alice.post(f"{API}/{c['id']}/items",
                             json={"media_id": media_id, "description": "the first"})
    assert added.status_code == 201, added.text
    first = added.json()
    assert first["media_id"] == media_id and first["position"] == 1
    second = await upload(alice, c["id"], (9, 9, 9))
    third = await upload(alice, c["id"], (200, 9, 9), "a red one")
    assert third["description"] == "a red one" and third["position"] == 3

    page = (await alice.get(f"{API}/{c['id']}/items", params={"per_page": 2})).json()
    assert (page["total"], page["pages"]) == (3, 2)
    assert [i["id"] for i in page["items"]] == [first["id"], second["id"]]
    page2 = (await alice.get(f"{API}/{c['id']}/items",
                             params={"per_page": 2, "page": 2})).json()
    assert [i["id"] for i in page2["items"]] == [third["id"]]

    moved = await alice.post(f"{API}/{c['id']}/items/{third['id']}/move", json={"position": 1})
    assert [i["id"] for i in moved.json()["items"]] == [third["id"], first["id"], second["id"]]
    too_far = await alice.post(f"{API}/{c['id']}/items/{third['id']}/move",
                               json={"position": 9})
    assert too_far.status_code == 400 and "1 to 3" in error_of(too_far)["message"]

    edited = await alice.patch(f"{API}/{c['id']}/items/{second['id']}",
                               json={"description": "grey"})
    assert edited.json()["description"] == "grey"

    thumb = await alice.get(second["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    image = await alice.get(second["image_url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    assert (await alice.delete(f"{API}/{c['id']}/items/{first['id']}")).status_code == 200
    left = (await alice.get(f"{API}/{c['id']}/items")).json()
    assert [i["id"] for i in left["items"]] == [third["id"], second["id"]]
    assert left["collection"]["items"] == 2
    # the image itself stays in the gallery
    assert (await alice.get(f"/api/v1/media/{media_id}")).status_code == 200


async def test_bad_items_are_refused_clearly(alice: httpx.AsyncClient,
                                             bob: httpx.AsyncClient) -> None:
    c = await new_collection(alice)
    unknown = await alice.post(f"{API}/{c['id']}/items", json={"media_id": "nope"})
    assert unknown.status_code == 404 and error_of(unknown)["message"] == "no such image"
    bobs = await made_image(bob)
    theirs = await alice.post(f"{API}/{c['id']}/items", json={"media_id": bobs})
    assert theirs.status_code == 404  # someone else's image does not exist for alice
    broken = await alice.post(f"{API}/{c['id']}/uploads",
                              files={"file": ("a.png", b"not an image", "image/png")})
    assert broken.status_code == 400 and error_of(broken)["code"] == "invalid_image"
    assert (await alice.get(f"{API}/{c['id']}")).json()["items"] == 0


async def test_another_users_collection_does_not_exist(alice: httpx.AsyncClient,
                                                       bob: httpx.AsyncClient) -> None:
    c = await new_collection(alice)
    item = await upload(alice, c["id"])
    for answer in [
        await bob.get(f"{API}/{c['id']}"),
        await bob.get(f"{API}/{c['id']}/items"),
        await bob.get(item["thumbnail_url"]),
        await bob.patch(f"{API}/{c['id']}", json={"name": "mine now"}),
        await bob.delete(f"{API}/{c['id']}"),
        await bob.post(f"{API}/{c['id']}/links", json={}),
        await bob.get(f"{API}/{c['id']}/export"),
    ]:
        assert answer.status_code == 404, answer.text
        assert error_of(answer)["code"] == "not_found"
    assert (await bob.get(API)).json() == {"mine": [], "shared_with_me": []}


async def test_sharing_view_then_edit_then_revoked(alice: httpx.AsyncClient,
                                                   bob: httpx.AsyncClient) -> None:
    c = await new_collection(alice)
    item = await upload(alice, c["id"])
    shared = await alice.put(f"{API}/{c['id']}/shares", json={"user": "bob"})
    assert shared.status_code == 200 and shared.json()["permission"] == "view"
    assert shared.json()["user"] == "web:bob"

    seen = (await bob.get(API)).json()["shared_with_me"]
    assert [(x["id"], x["access"]) for x in seen] == [(c["id"], "view")]
    assert (await bob.get(item["thumbnail_url"])).status_code == 200
    refused = await bob.patch(f"{API}/{c['id']}/items/{item['id']}", json={"description": "x"})
    assert refused.status_code == 403
    assert "only view" in error_of(refused)["message"]
    not_owner = await bob.post(f"{API}/{c['id']}/links", json={})
    assert not_owner.status_code == 403 and error_of(not_owner)["code"] == "forbidden"

    await alice.put(f"{API}/{c['id']}/shares", json={"user": "bob", "permission": "edit"})
    edited = await bob.patch(f"{API}/{c['id']}/items/{item['id']}", json={"description": "x"})
    assert edited.status_code == 200 and edited.json()["description"] == "x"
    assert (await bob.delete(f"{API}/{c['id']}")).status_code == 403  # delete is the owner's
    assert [s["permission"] for s in (await alice.get(f"{API}/{c['id']}/shares")).json()] == [
        "edit"]

    assert (await alice.delete(f"{API}/{c['id']}/shares/bob")).status_code == 200
    assert (await bob.get(f"{API}/{c['id']}")).status_code == 404
    again = await alice.delete(f"{API}/{c['id']}/shares/bob")
    assert again.status_code == 404
    nobody = await alice.put(f"{API}/{c['id']}/shares", json={"user": "carol"})
    assert nobody.status_code == 404 and "no StationThis user" in error_of(nobody)["message"]


async def test_share_links_valid_expired_revoked_unknown(
    app: App, alice: httpx.AsyncClient, web: Callable[..., httpx.AsyncClient]
) -> None:
    c = await new_collection(alice, "Shown", description="for friends")
    item = await upload(alice, c["id"], description="look")
    made = await alice.post(f"{API}/{c['id']}/links", json={"expires": "24h"})
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["status"] == "active" and link["url"] == f"/c/{link['token']}"
    never = (await alice.post(f"{API}/{c['id']}/links", json={"expires": "never"})).json()
    assert never["expires_at"] is None
    bad = await alice.post(f"{API}/{c['id']}/links", json={"expires": "1y"})
    assert bad.status_code == 422

    anyone = web()  # signed out
    shown = await anyone.get(f"/api/v1/links/{link['token']}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["name"] == "Shown" and body["total"] == 1
    assert body["items"][0]["description"] == "look"
    thumb = await anyone.get(body["items"][0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    full = await anyone.get(f"/api/v1/links/{link['token']}/items/{item['id']}/image")
    assert full.content.startswith(b"\x89PNG")
    # a link opens only the collection's own items
    other = await new_collection(alice, "Private")
    secret = await upload(alice, other["id"])
    leak = await anyone.get(f"/api/v1/links/{link['token']}/items/{secret['id']}/image")
    assert leak.status_code == 404

    async with app.db.write() as conn:  # a day later
        await conn.execute(update(collection_links)
                           .where(collection_links.c.token == link["token"])
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
    expired = await anyone.get(f"/api/v1/links/{link['token']}")
    assert expired.status_code == 410 and error_of(expired)["code"] == "link_gone"
    assert "expired" in error_of(expired)["message"]
    assert (await anyone.get(body["items"][0]["thumbnail_url"])).status_code == 410

    revoked = await alice.delete(f"{API}/{c['id']}/links/{never['token']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    gone = await anyone.get(f"/api/v1/links/{never['token']}")
    assert gone.status_code == 410 and "revoked" in error_of(gone)["message"]
    twice = await alice.delete(f"{API}/{c['id']}/links/{never['token']}")
    assert twice.status_code == 409

    statuses = {x["token"]: x["status"] for x in (await alice.get(f"{API}/{c['id']}/links"))
                .json()}
    assert statuses == {link["token"]: "expired", never["token"]: "revoked"}
    unknown = await anyone.get("/api/v1/links/" + "0" * 32)
    assert unknown.status_code == 404


async def test_changes_with_the_cookie_need_the_csrf_token(alice: httpx.AsyncClient) -> None:
    token = alice.headers.pop("X-CSRF-Token")
    refused = await alice.post(API, json={"name": "Sneaky"})
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_failed"
    alice.headers["X-CSRF-Token"] = token
    assert (await alice.get(API)).json()["mine"] == []
