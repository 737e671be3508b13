"""/collections: list, new, view, rename/describe, delete, share with users, share links,
cook (configure in a modal, quote, start, pause/resume/cancel), review and export — and the
📚 "add to collection" button under every result.

Permissions are the workflow's (``workflows/collections.py``, ``workflows/cook.py``): another
user's collection does not exist, a view-only share gets a clear refusal. Buttons carry the
collection id; ``precheck`` answers at once when the presser cannot see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from stationthis.core.collections import Collection
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.users import Account
from stationthis.platforms.chat import collections as shared
from stationthis.platforms.chat import cook as kitchen
from stationthis.platforms.discord import collections_render as cr
from stationthis.platforms.discord.handlers import cook
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.render import WORDS, message
from stationthis.platforms.discord.rest import File

Handler = Callable[[Interaction], Awaitable[None]]
Defer = Callable[[Interaction, Handler, str], dict[str, Any]]
REVIEW = {"crk": "keep", "crx": "reject", "crg": "regenerate"}
SHARE = "/collections share"
LISTED = "/collections list"
OWNER_STEPS = ("cx", "cxy", "cl", "cln", "clr", "ck", "cks", "ckp", "ckr", "ckc", "crk", "crx",
               "crg")  # what only the owner may press
THUMBNAILS = 4
EXPORT_MAX = 10 * 1_048_576  # what a bot may attach to one message
# button/select actions whose first part is a collection id
ACTIONS = ("cv", "cvs", "ce", "cx", "cxy", "cl", "cln", "clr", "ck", "cks", "ckn", "ckp",
           "ckr", "ckc", "cr", "crk", "crx", "crg", "cz")


# ----- the slash command --------------------------------------------------------------------

async def opening(ix: Interaction) -> dict[str, Any] | None:
    """Subcommands answered with a modal (they cannot be deferred), or None."""
    sub = ix.subcommand()
    if sub == "new" and not str(ix.options().get("name") or "").strip():
        return cr.new_modal()
    if sub == "cook":
        user = await ix.user()
        c = await find(ix, user, ix.options().get("collection"))
        shared.check(c, True, WORDS, SHARE)
        return cr.cook_modal(c, await cook.saved_config(ix, user, c))
    return None


async def command(ix: Interaction) -> None:
    sub = ix.subcommand() or "list"
    handler = {"list": listing, "new": new, "view": view_command, "rename": rename,
               "delete": delete_command, "share": share, "links": links_command,
               "review": review_command, "export": export_command}.get(sub)
    if handler is None:
        raise InvalidInput(f"unknown /collections subcommand {sub!r}")
    await handler(ix)


async def find(ix: Interaction, user: Account, name: Any) -> Collection:
    """One of the user's collections (own or shared) by name, number in the list, or id."""
    return await shared.named(ix.app, user, str(name or ""), WORDS, LISTED)


async def listing(ix: Interaction) -> None:
    user = await ix.user()
    await ix.reply(cr.listing(await ix.app.collections.mine(user),
                              await ix.app.collections.shared_with_me(user)))


async def new(ix: Interaction) -> None:
    options = ix.options()
    user = await ix.user()
    c = await ix.app.collections.create(user, str(options.get("name") or ""),
                                        str(options.get("description") or "") or None)
    await show(ix, user, c.id, f"Created **{c.name}**.")


async def view_command(ix: Interaction) -> None:
    user = await ix.user()
    await show(ix, user, (await find(ix, user, ix.options().get("collection"))).id)


async def rename(ix: Interaction) -> None:
    options = ix.options()
    user = await ix.user()
    c = await find(ix, user, options.get("collection"))
    if not options.get("name") and options.get("description") is None:
        raise InvalidInput("Give a new `name` or `description` (or press ✏️ Edit).")
    if options.get("name"):
        await ix.app.collections.rename(user, c.id, str(options["name"]))
    if options.get("description") is not None:
        await ix.app.collections.describe(user, c.id, str(options["description"]) or None)
    await show(ix, user, c.id, "Saved.")


async def delete_command(ix: Interaction) -> None:
    user = await ix.user()
    c = await find(ix, user, ix.options().get("collection"))
    shared.check(c, True, WORDS, SHARE)
    await ix.reply(cr.confirm_delete(c))


async def share(ix: Interaction) -> None:
    """Share with a Discord user (the ``user`` option) or any StationThis identity
    (``identity``: discord:<id>, telegram:<id>, or a web user name)."""
    options = ix.options()
    user = await ix.user()
    c = await find(ix, user, options.get("collection"))
    if options.get("user"):
        other = f"discord:{options['user']}"
    elif options.get("identity"):
        other = str(options["identity"]).strip()
    else:
        raise InvalidInput("Choose a `user`, or give an `identity` such as telegram:123.")
    permission = str(options.get("permission") or "view")
    note = await shared.share(ix.app, user, c, other, permission, WORDS, LISTED)
    await show(ix, user, c.id, note)


async def links_command(ix: Interaction) -> None:
    user = await ix.user()
    c = await find(ix, user, ix.options().get("collection"))
    await show_links(ix, user, c)


async def review_command(ix: Interaction) -> None:
    user = await ix.user()
    c = await find(ix, user, ix.options().get("collection"))
    await cook.show_review(ix, user, c, 1)


async def export_command(ix: Interaction) -> None:
    user = await ix.user()
    c = await find(ix, user, ix.options().get("collection"))
    await export(ix, user, c, str(ix.options().get("layout") or "both"))


# ----- showing ------------------------------------------------------------------------------

async def show(ix: Interaction, user: Account, collection_id: str, note: str = "") -> None:
    """The collection's embed with a few thumbnails attached, and its buttons."""
    app = ix.app
    c = await app.collections.view(user, collection_id)
    page = await app.collections.items(user, c.id, 1, THUMBNAILS)
    files = [File(f"{n}.jpg", await app.collections.thumbnail(user, c.id, item.id),
                  "image/jpeg") for n, item in enumerate(page.items, start=1)]
    shares = await app.collections.shares(user, c.id) if c.access == "owner" else []
    cooked = bool(c.cook) and c.access == "owner"
    payload = cr.view(c, shares, cooked, note)
    if not files:
        payload["attachments"] = []
    await ix.reply(payload, files or None)


async def show_links(ix: Interaction, user: Account, c: Collection, note: str = "") -> None:
    found = await ix.app.collections.links(user, c.id)
    await ix.reply(cr.links(c, found, ix.app.settings.public_url, note))


async def export(ix: Interaction, user: Account, c: Collection, layout: str) -> None:
    made = await shared.export(ix.app, user, c, layout)
    size = sum(len(f.data) for f in made)
    if size > EXPORT_MAX:
        raise InvalidInput(f"The export is {size / 1_048_576:.1f} MB, over Discord's "
                           f"{EXPORT_MAX // 1_048_576} MB for attachments: export it on the "
                           "web or with `stationthis collections export`.")
    files = [File(f.name, f.data, "application/zip") for f in made]
    await ix.reply(message(f"📦 **{c.name}**: {c.items} items.", components=[]), files)


# ----- buttons and selects ------------------------------------------------------------------

async def precheck(ix: Interaction, action: str, collection_id: str) -> dict[str, Any] | None:
    """The immediate answer for a press the presser cannot make (or a modal to open)."""
    user = await ix.user()
    try:
        c = await ix.app.collections.view(user, collection_id)
    except NotFound:
        return _ephemeral(shared.NOT_FOUND)
    why = shared.refusal(c, action in OWNER_STEPS, WORDS, SHARE)
    if (action == "ce" or action in OWNER_STEPS) and why is not None:
        return _ephemeral(why)
    if action == "ce":
        return cr.edit_modal(c)
    if action == "ck":
        return cr.cook_modal(c, await cook.saved_config(ix, user, c))
    return None


async def component(ix: Interaction, action: str, parts: list[str], values: list[str],
                    defer: Defer) -> dict[str, Any] | None:
    """The answer to a collection button or select, or None when it is not one of ours."""
    if action == "cvs" and not parts:
        if not values:
            return None
        parts = [values[0]]
    if action not in ACTIONS or not parts:
        return None
    early = await precheck(ix, action, parts[0])
    if early is not None:
        return early
    cid, extra = parts[0], parts[1:]
    return defer(ix, lambda i: pressed(i, action, cid, extra, values), "update")


async def pressed(ix: Interaction, action: str, cid: str, extra: list[str],
                  values: list[str]) -> None:
    app = ix.app
    user = await ix.user()
    c = await app.collections.view(user, cid)
    if action in ("cv", "cvs"):
        await show(ix, user, cid)
    elif action == "cx":
        await ix.reply(cr.confirm_delete(c))
    elif action == "cxy":
        await app.collections.delete(user, cid)
        await ix.reply(cr.plain(shared.deleted_text(c, WORDS), embeds=[], components=[]))
    elif action == "cl":
        await show_links(ix, user, c)
    elif action == "cln":
        made = await app.collections.create_link(user, cid, values[0] if values else "7d")
        url = cr.link_url(app.settings.public_url, made.token)
        await show_links(ix, user, c, f"New link: {url}")
    elif action == "clr" and extra:
        await app.collections.revoke_link(user, cid, extra[0])
        await show_links(ix, user, c, "Revoked: that link no longer opens the collection.")
    elif action == "cz":
        await export(ix, user, c, "both")
    elif action in ("cks", "ckn", "ckp", "ckr", "ckc"):
        await cook.cook_pressed(ix, user, c, action)
    elif action == "cr":
        await cook.show_review(ix, user, c, _number(extra[0]) if extra else 1)
    elif action in REVIEW and extra:
        number, page = _number(extra[0]), _number(extra[1]) if len(extra) > 1 else 1
        if await kitchen.review_step(ix, app, c, REVIEW[action], number) is None:
            return
        await cook.show_review(ix, user, await app.collections.view(user, cid), page)
    else:
        raise InvalidInput("This button is out of date.")


def _number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput("This button is out of date.")
    return int(text)


# ----- 📚 under a result ----------------------------------------------------------------------

async def pick(ix: Interaction, media_id: str) -> None:
    """📚 pressed: choose one of the collections the user may add to."""
    user = await ix.user()
    await ix.reply(cr.pick(media_id, await shared.pickable(ix.app, user, media_id)))


def picked(ix: Interaction, media_id: str, values: list[str], defer: Defer) -> dict[str, Any]:
    if not values:
        return _ephemeral("Choose a collection.")
    if values[0] == cr.NEW:
        return cr.new_modal(media_id)
    cid = values[0]
    return defer(ix, lambda i: add_output(i, media_id, cid), "update")


async def add_output(ix: Interaction, media_id: str, collection_id: str) -> None:
    user = await ix.user()
    await ix.reply(cr.added(await shared.add_output(ix.app, user, collection_id, media_id)))


# ----- modals -------------------------------------------------------------------------------

def modal(ix: Interaction, action: str, parts: list[str], defer: Defer) -> dict[str, Any] | None:
    if action == "mcn" and len(parts) <= 1:
        media = parts[0] if parts else None
        return defer(ix, lambda i: created(i, media), "ephemeral")
    if action == "mce" and len(parts) == 1:
        return defer(ix, lambda i: edited(i, parts[0]), "update")
    if action == "mck" and len(parts) == 1:
        return defer(ix, lambda i: cook.cook_configured(i, parts[0]), "ephemeral")
    return None


async def created(ix: Interaction, media_id: str | None) -> None:
    values = ix.modal_values()
    user = await ix.user()
    c = await ix.app.collections.create(user, values.get("name", ""),
                                        values.get("description") or None)
    note = f"Created **{c.name}**."
    if media_id is not None:
        await shared.add_output(ix.app, user, c.id, media_id)
        note = f"📚 Created **{c.name}** and added the image."
    await show(ix, user, c.id, note)


async def edited(ix: Interaction, collection_id: str) -> None:
    values = ix.modal_values()
    user = await ix.user()
    c = await ix.app.collections.view(user, collection_id)
    if values.get("name", "").strip() and values["name"].strip() != c.name:
        await ix.app.collections.rename(user, c.id, values["name"])
    if (values.get("description") or None) != c.description:
        await ix.app.collections.describe(user, c.id, values.get("description") or None)
    await show(ix, user, c.id, "Saved.")


def _ephemeral(text: str) -> dict[str, Any]:
    return {"type": 4, "data": message(text, ephemeral=True)}
