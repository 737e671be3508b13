"""Collections: create, rename, describe, delete; items (any output or upload), order,
thumbnails and paging; sharing with users (view / edit) and by expiring link.

Every call takes the acting ``Account`` and returns plain data; platforms render it. Another
user's collection does not exist for the caller (``NotFound``); a change with only view
permission is ``Forbidden`` with a message saying so. Owner only: delete, sharing, links,
cook and collection metadata. Editors: rename, describe and items.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from stationthis.core.collections import Collection, CollectionStore, Item, clean_name, clean_text
from stationthis.core.collections_sharing import EXPIRIES, Link, Share, SharingStore, find_user
from stationthis.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from stationthis.core.jobs import JobService
from stationthis.core.media import MediaService
from stationthis.core.users import Account, Identity, Users
from stationthis.workflows.collections_export import CollectionExport

PER_PAGE_MAX = 100
META_KEYS = ("royalty", "edition_title", "chain", "standard", "external_url", "image_base_uri")


@dataclass(frozen=True)
class ItemPage:
    collection: Collection
    items: list[Item]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class ShareView:
    """Who a collection is shared with: the account id and the identities to show."""

    share: Share
    user: str  # "telegram:123" (the user's first identity) or the account id


@dataclass(frozen=True)
class LinkView:
    collection: Collection
    items: ItemPage
    link: Link


class Collections:
    def __init__(self, store: CollectionStore, media: MediaService, users: Users,
                 jobs: JobService | None = None) -> None:
        self.store = store
        self.sharing = SharingStore(store.db)
        self.media = media
        self.users = users
        self.jobs = jobs  # to caption exported outputs with their prompts
        self.export = CollectionExport(self)

    # ----- collections -------------------------------------------------------------------

    async def create(self, user: Account, name: str, description: str | None = None
                     ) -> Collection:
        return await self.store.get(user.id, await self.store.create(user.id, name, description))

    async def view(self, user: Account, collection_id: str) -> Collection:
        return await self.store.get(user.id, collection_id)

    async def exists(self, collection_id: str) -> bool:
        """Whether the collection is there at all (to say "deleted" rather than "not
        yours" on an old button); tells nothing else about it."""
        try:
            await self.store.get_any(collection_id)
        except NotFound:
            return False
        return True

    async def name_of(self, collection_id: str) -> str | None:
        """The collection's name with no access check, None when it is gone: for a
        background note to the person who started work on it (a cook run's progress)."""
        try:
            return (await self.store.get_any(collection_id)).name
        except NotFound:
            return None

    async def mine(self, user: Account) -> list[Collection]:
        return await self.store.owned(user.id)

    async def shared_with_me(self, user: Account) -> list[Collection]:
        return await self.store.shared_with(user.id)

    async def rename(self, user: Account, collection_id: str, name: str) -> Collection:
        await self.store.get(user.id, collection_id, "edit")
        await self.store.update(collection_id, name=clean_name(name))
        return await self.store.get(user.id, collection_id)

    async def describe(self, user: Account, collection_id: str, description: str | None
                       ) -> Collection:
        await self.store.get(user.id, collection_id, "edit")
        await self.store.update(collection_id, description=clean_text(description))
        return await self.store.get(user.id, collection_id)

    async def set_metadata(self, user: Account, collection_id: str, **values: Any
                           ) -> Collection:
        """Export metadata: royalty (percent), edition_title, chain, standard, external_url,
        image_base_uri (where the images will live, e.g. ipfs://CID)."""
        collection = await self.store.get(user.id, collection_id, "owner")
        unknown = sorted(set(values) - set(META_KEYS))
        if unknown:
            raise InvalidInput(f"unknown metadata {', '.join(unknown)} (known: "
                               f"{', '.join(META_KEYS)})")
        meta = dict(collection.meta)
        for key, value in values.items():
            if key == "royalty" and value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or not (
                        0 <= value <= 100):
                    raise InvalidInput("royalty is a percentage from 0 to 100")
            elif value is not None:
                value = clean_text(str(value), key)
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        await self.store.update(collection_id, meta=meta)
        return await self.store.get(user.id, collection_id)

    async def delete(self, user: Account, collection_id: str) -> None:
        """Owner only. Its items, shares, links and cook runs go too (images stay in the
        owners' media and history)."""
        await self.store.get(user.id, collection_id, "owner")
        if self.jobs is not None:  # a cook run in progress stops; its holds are released
            for job_id in await self.store.running_jobs(collection_id):
                with contextlib.suppress(Conflict, NotFound):
                    await self.jobs.cancel(job_id)
        await self.store.delete(collection_id)

    # ----- items -------------------------------------------------------------------------

    async def items(self, user: Account, collection_id: str, page: int = 1,
                    per_page: int = 20) -> ItemPage:
        collection = await self.store.get(user.id, collection_id)
        return await self._page(collection, page, per_page)

    async def add_output(self, user: Account, collection_id: str, media_id: str,
                         description: str | None = None) -> Item:
        """Add one of the user's own images (an output of a job, or an upload)."""
        await self.store.get(user.id, collection_id, "edit")
        try:
            item = await self.media.get(media_id, owner_id=user.id)
        except NotFound:
            raise NotFound("no such image") from None
        if not item.is_image:
            raise InvalidInput("only images can be added to a collection")
        return await self.store.add_item(collection_id, item.id, user.id,
                                         description=description)

    async def add_upload(self, user: Account, collection_id: str, data: bytes,
                         description: str | None = None) -> Item:
        """Add an uploaded file (checked by the hardened image loader)."""
        await self.store.get(user.id, collection_id, "edit")
        clean_text(description)
        media = await self.media.ingest(user.id, data, kind="upload")
        return await self.store.add_item(collection_id, media.id, user.id,
                                         description=description)

    async def item(self, user: Account, collection_id: str, item_id: str) -> Item:
        await self.store.get(user.id, collection_id)
        return await self.store.item(collection_id, item_id)

    async def edit_item(self, user: Account, collection_id: str, item_id: str,
                        description: str | None) -> Item:
        await self.store.get(user.id, collection_id, "edit")
        return await self.store.update_item(collection_id, item_id,
                                            description=clean_text(description))

    async def remove_item(self, user: Account, collection_id: str, item_id: str) -> None:
        await self.store.get(user.id, collection_id, "edit")
        await self.store.remove_item(collection_id, item_id)

    async def move_item(self, user: Account, collection_id: str, item_id: str,
                        position: int) -> ItemPage:
        await self.store.get(user.id, collection_id, "edit")
        await self.store.move_item(collection_id, item_id, position)
        return await self.items(user, collection_id, 1, PER_PAGE_MAX)

    async def thumbnail(self, user: Account, collection_id: str, item_id: str) -> bytes:
        """A small JPEG, made once per image and then served from the media store."""
        item = await self.item(user, collection_id, item_id)
        return await self.media.thumbnail(await self.media.get(item.media_id))

    async def image(self, user: Account, collection_id: str, item_id: str) -> bytes:
        item = await self.item(user, collection_id, item_id)
        return await self.media.read(await self.media.get(item.media_id))

    # ----- sharing with users ------------------------------------------------------------

    async def share(self, user: Account, collection_id: str, other: str | Identity,
                    permission: str = "view") -> ShareView:
        """Share with another StationThis user (``NAME`` = web:NAME, or ``PLATFORM:ID``),
        or change their permission. Owner only."""
        await self.store.get(user.id, collection_id, "owner")
        ident = other if isinstance(other, Identity) else Identity.parse(str(other))
        account_id = await find_user(self.store.db, ident.platform, ident.external_id)
        if account_id is None:
            raise NotFound(f"there is no StationThis user {ident}")
        if account_id == user.id:
            raise InvalidInput("this collection is already yours")
        share = await self.sharing.share(collection_id, account_id, permission)
        return ShareView(share, str(ident))

    async def unshare(self, user: Account, collection_id: str, other: str | Identity) -> None:
        await self.store.get(user.id, collection_id, "owner")
        ident = other if isinstance(other, Identity) else Identity.parse(str(other))
        account_id = await find_user(self.store.db, ident.platform, ident.external_id)
        if account_id is None or not await self.sharing.unshare(collection_id, account_id):
            raise NotFound(f"this collection is not shared with {ident}")

    async def shares(self, user: Account, collection_id: str) -> list[ShareView]:
        await self.store.get(user.id, collection_id, "owner")
        views = []
        for share in await self.sharing.shares(collection_id):
            idents = await self.users.identities_of(share.account_id)
            views.append(ShareView(share, str(idents[0]) if idents else share.account_id))
        return views

    # ----- share links -------------------------------------------------------------------

    async def create_link(self, user: Account, collection_id: str, expiry: str = "7d") -> Link:
        """A read-only link with a random token; ``expiry`` is 24h, 7d, 30d or never."""
        await self.store.get(user.id, collection_id, "owner")
        return await self.sharing.create_link(collection_id, expiry)

    async def links(self, user: Account, collection_id: str) -> list[Link]:
        await self.store.get(user.id, collection_id, "owner")
        return await self.sharing.links(collection_id)

    async def revoke_link(self, user: Account, collection_id: str, token: str) -> Link:
        await self.store.get(user.id, collection_id, "owner")
        return await self.sharing.revoke_link(collection_id, token)

    async def open_link(self, token: str, page: int = 1, per_page: int = 20) -> LinkView:
        """What a share link shows (read-only), or ``Forbidden`` saying why it is refused."""
        link = await self._valid_link(token)
        collection = await self.store.get_any(link.collection_id)
        return LinkView(collection, await self._page(collection, page, per_page), link)

    async def link_image(self, token: str, item_id: str, *, thumbnail: bool = False) -> bytes:
        link = await self._valid_link(token)
        item = await self.store.item(link.collection_id, item_id)
        media = await self.media.get(item.media_id)
        return await (self.media.thumbnail(media) if thumbnail else self.media.read(media))

    # ----- internals ---------------------------------------------------------------------

    async def _valid_link(self, token: str) -> Link:
        link = await self.sharing.link(token)
        if link.status == "revoked":
            raise Forbidden("this share link was revoked by the collection's owner")
        if link.status == "expired":
            raise Forbidden("this share link has expired: ask the owner for a new one")
        return link

    async def _page(self, collection: Collection, page: int, per_page: int) -> ItemPage:
        if not 1 <= per_page <= PER_PAGE_MAX:
            raise InvalidInput(f"a page has 1–{PER_PAGE_MAX} items")
        if page < 1:
            raise InvalidInput("pages start at 1")
        items, total = await self.store.items(collection.id, (page - 1) * per_page, per_page)
        pages = max(1, -(-total // per_page))
        return ItemPage(collection, items, page, pages, total)


__all__ = ["EXPIRIES", "Collections", "ItemPage", "LinkView", "ShareView"]
