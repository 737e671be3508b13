"""Collections as Telegram and Discord share them: which collection a user means (numbered
as the list shows them: theirs, then those shared with them), who may do what (refused
before a question the workflow would refuse anyway), the 📚 button under a result, sharing,
export files, and what each step says. Every call goes through ``app.collections`` with the
asking user's account: another user's collection is "not found"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stationthis.core.collections import Collection
from stationthis.core.errors import Forbidden, InvalidInput, NotFound
from stationthis.core.users import Account
from stationthis.platforms.chat.datasets import plural
from stationthis.platforms.chat.turn import Words
from stationthis.workflows.services import Services

NOT_FOUND = "That collection was not found: it was deleted, or it is not shared with you."
OWNER_ONLY = "Only the collection's owner can do that."
PICK = "Add it to which collection?"
NONE_YET = "You have no collection yet."
DEFAULT_NAME = "My collection"


def view_only(words: Words, share: str) -> str:
    """To someone with a view-only share; ``share`` is the command the owner uses."""
    return (f"You can only view this collection. Only the owner can change it: ask them for "
            f"edit access ({words.command(share)}).")


async def visible(app: Services, user: Account) -> list[Collection]:
    """The user's collections, then those shared with them: the numbering of the list."""
    return [*await app.collections.mine(user), *await app.collections.shared_with_me(user)]


async def find(app: Services, user: Account, words: list[str], w: Words, listed: str
               ) -> tuple[Collection, list[str]]:
    """The collection named by the first words (its number in the list, its id or its name —
    the longest name that matches, any case) and the words after it. ``listed`` is the
    command that lists them, for the refusal."""
    if not words:
        raise InvalidInput(f"Which collection? Give its name or number (see "
                           f"{w.command(listed)}).")
    found = await visible(app, user)
    first = words[0]
    if first.isdigit() and 1 <= int(first) <= len(found):
        return found[int(first) - 1], words[1:]
    for c in found:
        if first == c.id:
            return c, words[1:]
    for size in range(len(words), 0, -1):
        name = " ".join(words[:size]).lower()
        for c in found:
            if c.name.lower() == name:
                return c, words[size:]
    raise NotFound(missing(words, w, listed))


async def named(app: Services, user: Account, name: str, w: Words, listed: str) -> Collection:
    """The collection a whole name (or number, or id) means; nothing may follow it."""
    words = str(name or "").split()
    c, rest = await find(app, user, words, w, listed)
    if rest:
        raise NotFound(missing(words, w, listed))
    return c


def missing(words: list[str], w: Words, listed: str) -> str:
    return (f"No collection matches: you have no collection named {' '.join(words)!r} (see "
            f"{w.command(listed)}).")


def refusal(c: Collection, owner: bool, words: Words, share: str) -> str | None:
    """Why the asker may not change ``c`` (``owner``: a step only the owner takes), or None."""
    if c.access == "view":
        return view_only(words, share)
    if owner and c.access != "owner":
        return OWNER_ONLY
    return None


def check(c: Collection, owner: bool, words: Words, share: str) -> None:
    """``refusal`` as an error, before asking a question the workflow would refuse."""
    why = refusal(c, owner, words, share)
    if why is not None:
        raise Forbidden(why)


# ----- texts ---------------------------------------------------------------------------------

def items_text(count: int) -> str:
    return plural(count, "item")


def delete_question(c: Collection, words: Words) -> str:
    return (f"Delete {words.strong(c.name)} and its {items_text(c.items)}? The images stay in "
            "your history. This cannot be undone.")


def deleted_text(c: Collection, words: Words) -> str:
    return f"🗑 Collection {words.strong(c.name)} deleted. Its images stay in your history."


def added_text(c: Collection, words: Words) -> str:
    return f"📚 Added to {words.strong(c.name)} ({items_text(c.items)})."


def link_question(c: Collection, words: Words) -> str:
    return f"Share {words.strong(c.name)} by a read-only link. How long should it work?"


# ----- 📚 under a result ----------------------------------------------------------------------

async def pickable(app: Services, user: Account, media_id: str) -> list[Collection]:
    """The collections an image of the user's can go in: theirs and those shared with them
    to edit (someone else's image: not found)."""
    await app.media.get(media_id, owner_id=user.id)
    return [c for c in await visible(app, user) if c.access in ("owner", "edit")]


async def add_output(app: Services, user: Account, collection_id: str, media_id: str
                     ) -> Collection:
    """The image added; the collection as it is now."""
    await app.collections.add_output(user, collection_id, media_id)
    return await app.collections.view(user, collection_id)


async def add_to_new(app: Services, user: Account, media_id: str) -> Collection:
    """A new collection named after the image's prompt (or the user's one of that name),
    with the image in it."""
    item = await app.media.get(media_id, owner_id=user.id)
    name = DEFAULT_NAME
    if item.job_id is not None:
        try:
            prompt = str((await app.jobs.get_owned(item.job_id, user.id)).params.get("prompt")
                         or "")
        except NotFound:
            prompt = ""
        name = " ".join(prompt.split())[:40].strip() or name
    same = next((c for c in await app.collections.mine(user) if c.name.lower() == name.lower()),
                None)
    c = same or await app.collections.create(user, name)
    return await add_output(app, user, c.id, media_id)


async def prompt_of(app: Services, media_id: str) -> str | None:
    """The prompt an item's image was made with (what a list shows without a name)."""
    try:
        media = await app.media.get(media_id)
        if media.job_id is None:
            return None
        prompt = (await app.jobs.get(media.job_id)).params.get("prompt")
    except NotFound:
        return None
    return " ".join(str(prompt).split())[:60] if prompt else None


# ----- sharing and export --------------------------------------------------------------------

async def share(app: Services, user: Account, c: Collection, other: str, permission: str,
                words: Words, listed: str) -> str:
    """Share with ``other`` (an identity: telegram:ID, discord:ID or a web name) to ``view``
    or ``edit``; ``remove`` unshares. What to say."""
    if permission == "remove":
        await app.collections.unshare(user, c.id, other)
        return f"{words.strong(c.name)} is no longer shared with {other}."
    shared = await app.collections.share(user, c.id, other, permission)
    can = "view and edit" if shared.share.permission == "edit" else "view"
    return (f"Shared {words.strong(c.name)} with {shared.user} ({shared.share.permission}): "
            f"they can {can} it ({words.command(listed)} shows it to them).")


@dataclass(frozen=True)
class ExportFile:
    name: str
    data: bytes
    caption: str


LAYOUTS = {"nft": "images + metadata (NFT layout)", "captions": "images + captions (dataset "
           "layout)"}


async def export(app: Services, user: Account, c: Collection, layout: str = "both"
                 ) -> list[ExportFile]:
    """The NFT layout and/or the captions layout, each a zip named after the collection."""
    exporter = app.collections.export
    stem = re.sub(r"[^a-z0-9_]+", "-", c.name.lower()).strip("-") or "collection"
    made = []
    if layout in ("nft", "both"):
        made.append(ExportFile(f"{stem}-nft.zip", await exporter.nft_zip(user, c.id),
                               f"📦 {c.name}: {LAYOUTS['nft']}"))
    if layout in ("captions", "both"):
        made.append(ExportFile(f"{stem}-captions.zip", await exporter.captions_zip(user, c.id),
                               f"📦 {c.name}: {LAYOUTS['captions']}"))
    return made
