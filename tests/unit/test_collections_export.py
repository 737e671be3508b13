"""Export: the NFT layout (images + one metadata JSON per kept piece + collection metadata)
and the images + captions layout, which imports back as a training dataset."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image

from stationthis.core.errors import Forbidden, InvalidInput, NotFound
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from tests.support.scripted import png

CONFIG = {
    "master_prompt": "a [animal] at [time]",
    "trait_types": [{"name": "animal", "traits": ["fox", "owl"]},
                    {"name": "time", "traits": ["dawn", "dusk"]}],
    "supply": 5, "seed": 3,
}


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("web", name))


async def kept_collection(app: App, owner: Account) -> tuple[str, list[int]]:
    c = await app.collections.create(owner, "Night Shift", "animals at odd hours")
    await app.collections.set_metadata(owner, c.id, royalty=5, chain="base",
                                       image_base_uri="ipfs://CID")
    await app.cook.configure(owner, c.id, CONFIG)
    await app.cook.start(owner, c.id)
    await app.cook.drive(owner, c.id, timeout=30)
    for number in (1, 3, 4):
        await app.cook.keep(owner, c.id, number)
    await app.cook.reject(owner, c.id, 2)
    return c.id, [1, 3, 4]


async def test_nft_export_has_images_metadata_and_collection_json(app: App) -> None:
    alice = await user(app)
    cid, kept = await kept_collection(app, alice)
    pieces = {p.number: p for p in await app.cook.pieces(alice, cid)}
    archive = zipfile.ZipFile(io.BytesIO(await app.collections.export.nft_zip(alice, cid)))
    assert sorted(archive.namelist()) == sorted(
        ["collection.json"] + [f"images/{n}.png" for n in (1, 2, 3)]
        + [f"metadata/{n}.json" for n in (1, 2, 3)])
    for n, number in enumerate(kept, start=1):
        meta = json.loads(archive.read(f"metadata/{n}.json"))
        assert meta == {
            "name": f"Night Shift #{number}", "description": "animals at odd hours",
            "image": f"ipfs://CID/{n}.png", "edition": n,
            "attributes": pieces[number].attributes,
        }
        assert {a["trait_type"] for a in meta["attributes"]} == {"animal", "time"}
        stored = await app.media.read(await app.media.get(str(pieces[number].media_id)))
        assert archive.read(f"images/{n}.png") == stored
        Image.open(io.BytesIO(archive.read(f"images/{n}.png"))).verify()
    collection = json.loads(archive.read("collection.json"))
    assert collection["name"] == "Night Shift" and collection["supply"] == 3
    assert (collection["royalty"], collection["chain"]) == (5, "base")
    assert collection["cook"]["master_prompt"] == CONFIG["master_prompt"]


async def test_captions_export_imports_back_as_a_dataset(app: App) -> None:
    alice = await user(app)
    cid, kept = await kept_collection(app, alice)
    upload = await app.collections.add_upload(alice, cid, png(96, 96), "my own sketch")
    assert upload.position == 4
    pieces = {p.number: p for p in await app.cook.pieces(alice, cid)}
    archive = zipfile.ZipFile(io.BytesIO(await app.collections.export.captions_zip(alice, cid)))
    assert sorted(archive.namelist()) == [f"{n:03d}.{ext}" for n in (1, 2, 3, 4)
                                          for ext in ("png", "txt")]
    captions = [archive.read(f"{n:03d}.txt").decode() for n in (1, 2, 3, 4)]
    assert captions == [pieces[k].prompt for k in kept] + ["my own sketch"]

    dataset = await app.training.dataset_from_collection(alice, app.collections, cid,
                                                         "night shift set", trigger="nsft")
    assert [i.caption for i in dataset.images] == captions
    assert dataset.caption_for(dataset.images[0]) == f"nsft, {captions[0]}"
    view = await app.training.view(alice, dataset.id)
    assert view.readiness.images == 4 and view.readiness.ready


async def test_export_access_and_empty_collections(app: App) -> None:
    alice, bob, eve = await user(app), await user(app, "bob"), await user(app, "eve")
    c = await app.collections.create(alice, "Empty")
    with pytest.raises(InvalidInput, match="no items to export"):
        await app.collections.export.nft_zip(alice, c.id)
    await app.collections.add_upload(alice, c.id, png())
    with pytest.raises(NotFound):
        await app.collections.export.nft_zip(eve, c.id)
    await app.collections.share(alice, c.id, "bob", "view")
    assert await app.collections.export.nft_zip(bob, c.id)  # viewers may download
    with pytest.raises(InvalidInput, match="royalty is a percentage"):
        await app.collections.set_metadata(alice, c.id, royalty=150)
    with pytest.raises(InvalidInput, match="unknown metadata"):
        await app.collections.set_metadata(alice, c.id, color="red")
    with pytest.raises(Forbidden, match="only the owner"):
        await app.collections.set_metadata(bob, c.id, royalty=1)
    # a dataset import that fails leaves no half-made dataset behind
    for _ in range(app.settings.dataset_max_images):
        await app.collections.add_upload(alice, c.id, png(32, 32))
    with pytest.raises(InvalidInput, match="do not fit"):
        await app.training.dataset_from_collection(alice, app.collections, c.id, "too many")
    assert await app.datasets.list_for(alice.id) == []
