"""Export a collection as a zip, in two layouts:

- ``nft``: ``images/1.png`` + ``metadata/1.json`` ({name, description, image, edition,
  attributes: [{trait_type, value}]}) per item, and ``collection.json`` — the layout NFT
  marketplaces and their upload tools expect;
- ``captions``: ``001.png`` + ``001.txt`` — the layout the training dataset import reads.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from stationthis.core.collections import Collection, Item
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.users import Account

if TYPE_CHECKING:
    from stationthis.workflows.collections import Collections


class CollectionExport:
    def __init__(self, collections: Collections) -> None:
        self.c = collections

    async def nft_zip(self, user: Account, collection_id: str) -> bytes:
        collection, items = await self._all(user, collection_id)
        base = str(collection.meta.get("image_base_uri") or "images").rstrip("/")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for number, item in enumerate(items, start=1):
                archive.writestr(f"images/{number}.png", await self._bytes(item))
                archive.writestr(f"metadata/{number}.json", _json({
                    "name": item.name or f"{collection.name} #{number}",
                    "description": item.description or collection.description or "",
                    "image": f"{base}/{number}.png",
                    "edition": number,
                    "attributes": [
                        {"trait_type": str(a["trait_type"]), "value": str(a["value"])}
                        for a in item.attributes
                    ],
                }))
            archive.writestr("collection.json", _json(self._collection_json(collection,
                                                                            len(items))))
        return buffer.getvalue()

    async def captions_zip(self, user: Account, collection_id: str) -> bytes:
        """Images with one caption each: the item's description, else the prompt it was
        made with, else the collection's name."""
        collection, items = await self._all(user, collection_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for number, item in enumerate(items, start=1):
                archive.writestr(f"{number:03d}.png", await self._bytes(item))
                archive.writestr(f"{number:03d}.txt", await self._caption(collection, item))
        return buffer.getvalue()

    # ----- internals ---------------------------------------------------------------------

    async def _all(self, user: Account, collection_id: str) -> tuple[Collection, list[Item]]:
        collection = await self.c.store.get(user.id, collection_id)
        items, _ = await self.c.store.items(collection_id)
        if not items:
            raise InvalidInput("this collection has no items to export")
        return collection, items

    async def _bytes(self, item: Item) -> bytes:
        return await self.c.media.read(await self.c.media.get(item.media_id))

    async def _caption(self, collection: Collection, item: Item) -> str:
        if item.description:
            return item.description
        media = await self.c.media.get(item.media_id)
        if media.job_id is not None and self.c.jobs is not None:
            try:
                prompt = (await self.c.jobs.get(media.job_id)).params.get("prompt")
            except NotFound:
                prompt = None
            if prompt:
                return str(prompt)
        return collection.name

    def _collection_json(self, collection: Collection, count: int) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": collection.name,
            "description": collection.description or "",
            "supply": count,
            **{k: v for k, v in sorted(collection.meta.items())},
        }
        if collection.cook:
            data["cook"] = collection.cook
        return data


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
