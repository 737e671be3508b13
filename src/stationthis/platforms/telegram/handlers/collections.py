"""/collections and /collection: list, create, view (thumbnails + buttons), rename, describe,
delete with confirm, share with users, share links, export; the 📚 button under results.

Every call goes through ``app.collections`` with the asking user's account: another user's
collection is "not found", a view-only user's change is refused by the workflow. Buttons
carry ids only; ``pressed`` handles every ``k…``/``q…`` button (cook ones in ``cook.py``)."""

from __future__ import annotations

import logging
import re

from telegram import InputMediaPhoto, Update
from telegram.error import TelegramError

from stationthis.core.collections import Collection
from stationthis.core.errors import Conflict, Forbidden, InvalidInput, NotFound, StationError
from stationthis.core.users import Account
from stationthis.platforms.chat.actions import code_of
from stationthis.platforms.chat.flows import NOT_YOURS, SORRY, STALE, object_exists
from stationthis.platforms.telegram import render_collections as rc
from stationthis.platforms.telegram.callbacks import unpack
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    answer,
    error_text,
    guarded,
    station,
    user_of,
)
from stationthis.platforms.telegram.handlers.generate import rest_of
from stationthis.platforms.telegram.handlers.web import web_base
from stationthis.workflows.services import Services

log = logging.getLogger(__name__)
THUMBS = 6  # thumbnails shown with a collection
NOT_SHARED = "This collection is not shared with you."
MEDIA_ACTIONS = ("ca", "ka", "kn")  # 📚 under a result (``k`` on old messages), its picker


# ----- finding a collection by what the user typed -----------------------------------------

async def visible(app: Services, user: Account) -> list[Collection]:
    """The user's collections, then those shared with them: the numbering of /collections."""
    return [*await app.collections.mine(user), *await app.collections.shared_with_me(user)]


async def find(app: Services, user: Account, words: list[str]) -> tuple[Collection, list[str]]:
    """The collection named by the first words (its number, id or name — the longest name
    that matches) and the words after it."""
    if not words:
        raise InvalidInput("Which collection? Give its name or number (see /collections).")
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
    raise NotFound(f"no collection {first!r}: see /collections")


def owner_only(c: Collection) -> None:
    """Refused before asking a question the workflow would refuse anyway."""
    if c.access != "owner":
        raise Forbidden("only the owner of this collection can do that")


# ----- commands ----------------------------------------------------------------------------

@guarded
async def collections(update: Update, context: Ctx) -> None:
    app = station(context).app
    user = await user_of(update, context)
    mine, shared = await app.collections.mine(user), await app.collections.shared_with_me(user)
    await answer(update, rc.collections_text(mine, shared),
                 reply_markup=rc.collections_keyboard([*mine, *shared]))


@guarded
async def collection(update: Update, context: Ctx) -> None:
    app = station(context).app
    user = await user_of(update, context)
    words = rest_of(update.effective_message).split()
    sub, args = (words[0].lower(), words[1:]) if words else ("", [])
    if sub in ("", "help"):
        tg = update.effective_user
        assert tg is not None
        await answer(update, rc.USAGE + f"\nYou are telegram:{tg.id} — others share with you "
                     "by that.")
    elif sub in ("new", "create"):
        if not args:
            raise InvalidInput("Name it: /collection new NAME")
        c = await app.collections.create(user, " ".join(args))
        await answer(update, f"📚 Collection {c.name} created. Press 📚 under any image to add "
                     "it here.", reply_markup=rc.collections_keyboard([c]))
    elif sub == "list":
        await collections(update, context)
    elif sub == "rename":
        c, rest = await find(app, user, args)
        if not rest:
            raise InvalidInput(f"The new name? /collection rename {c.name} NEW NAME")
        done = await app.collections.rename(user, c.id, " ".join(rest))
        await answer(update, f"Renamed to {done.name}.")
    elif sub == "describe":
        c, rest = await find(app, user, args)
        await app.collections.describe(user, c.id, " ".join(rest) or None)
        await answer(update, f"Description of {c.name} {'set' if rest else 'removed'}.")
    elif sub == "delete":
        c, _ = await find(app, user, args)
        owner_only(c)
        await answer(update, f"Delete {c.name} and its {c.items} items? (The images stay in "
                     "your history.)", reply_markup=rc.delete_keyboard(c))
    elif sub in ("share", "unshare"):
        await _share(update, context, user, sub, args)
    elif sub == "link":
        c, _ = await find(app, user, args)
        owner_only(c)
        await answer(update, f"Share {c.name} by a read-only link. How long should it work?",
                     reply_markup=rc.expiry_keyboard(c))
    elif sub == "links":
        c, _ = await find(app, user, args)
        await _links(update, context, user, c)
    elif sub == "export":
        c, _ = await find(app, user, args)
        await export(update, context, user, c)
    else:
        c, _ = await find(app, user, words if sub != "view" else args)
        await show(update, context, user, c)


async def _share(update: Update, context: Ctx, user: Account, sub: str,
                 args: list[str]) -> None:
    app = station(context).app
    permission = "view"
    if args and args[-1].lower() in ("view", "edit"):
        permission, args = args[-1].lower(), args[:-1]
    if len(args) < 2:
        raise InvalidInput(f"/collection {sub} NAME USER{' [view|edit]' if sub == 'share' else ''}"
                           " — USER is telegram:ID, discord:ID or a web name.")
    c, rest = await find(app, user, args[:-1])
    if rest:
        raise NotFound(f"no collection {' '.join(args[:-1])!r}: see /collections")
    other = args[-1]
    if other.startswith("@"):
        raise InvalidInput("I can't look up Telegram usernames: ask them for their identity "
                           "(/collection shows it, e.g. telegram:123) and share with that.")
    if sub == "unshare":
        await app.collections.unshare(user, c.id, other)
        await answer(update, f"{c.name} is no longer shared with {other}.")
        return
    view = await app.collections.share(user, c.id, other, permission)
    can = "view and edit" if view.share.permission == "edit" else "view"
    await answer(update, f"Shared {c.name} with {view.user}: they can {can} it "
                 "(/collections shows it to them).")


# ----- showing -------------------------------------------------------------------------------

async def show(update: Update, context: Ctx, user: Account, c: Collection) -> None:
    """A few thumbnails (an album, or one photo), then the text with the buttons."""
    app = station(context).app
    page = await app.collections.items(user, c.id, 1, 20)
    chat = update.effective_chat
    assert chat is not None
    thumbs = [await app.collections.thumbnail(user, c.id, item.id)
              for item in page.items[:THUMBS]]
    if len(thumbs) == 1:
        await context.bot.send_photo(chat.id, thumbs[0])
    elif thumbs:
        await context.bot.send_media_group(chat.id, [InputMediaPhoto(t) for t in thumbs])
    shares = await app.collections.shares(user, c.id) if page.collection.access == "owner" \
        else []
    prompts = {item.id: await _prompt(app, item.media_id) for item in page.items}
    await answer(update, rc.collection_text(page.collection, page.items, page.total, shares,
                                            {k: v for k, v in prompts.items() if v}),
                 reply_markup=rc.collection_keyboard(page.collection))


async def _prompt(app: Services, media_id: str) -> str | None:
    """The prompt an item's image was made with (what the list shows without a name)."""
    try:
        media = await app.media.get(media_id)
        if media.job_id is None:
            return None
        prompt = (await app.jobs.get(media.job_id)).params.get("prompt")
    except NotFound:
        return None
    return " ".join(str(prompt).split())[:60] if prompt else None


async def _links(update: Update, context: Ctx, user: Account, c: Collection) -> None:
    app = station(context).app
    links = await app.collections.links(user, c.id)
    active = [link for link in links if link.status == "active"]
    await answer(update, rc.links_text(c, links, web_base(app.settings)),
                 reply_markup=rc.revoke_keyboard(c, active))


async def export(update: Update, context: Ctx, user: Account, c: Collection) -> None:
    """The NFT layout and the captions layout, each as a zip document."""
    app = station(context).app
    chat = update.effective_chat
    assert chat is not None
    nft = await app.collections.export.nft_zip(user, c.id)
    captions = await app.collections.export.captions_zip(user, c.id)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", c.name).strip("-") or "collection"
    await context.bot.send_document(chat.id, nft, filename=f"{stem}-nft.zip",
                                    caption=f"📦 {c.name}: images + metadata (NFT layout)")
    await context.bot.send_document(chat.id, captions, filename=f"{stem}-captions.zip",
                                    caption=f"📦 {c.name}: images + captions (dataset layout)")


# ----- buttons -------------------------------------------------------------------------------

async def pressed(update: Update, context: Ctx) -> None:
    """Every ``k…`` and ``q…`` button and 📚 (``ca``). Not found: someone else's (say so) or
    gone (stale)."""
    from stationthis.platforms.telegram.handlers import (
        cook,  # the cook buttons; imported here, cook imports this module
    )

    query = update.callback_query
    if query is None:
        return
    action, parts = unpack(query.data or "")
    action = code_of(action)
    app = station(context).app
    text: str | None = None
    try:
        if action.startswith("q"):
            await cook.pressed(update, context, action, parts)
        else:
            await _act(update, context, action, parts)
    except NotFound:
        text = STALE
        if parts and action in MEDIA_ACTIONS and await object_exists(app, "media", parts[0]):
            text = NOT_YOURS
        elif parts and action not in MEDIA_ACTIONS and await _exists(app, parts[0]):
            text = NOT_SHARED
    except StationError as exc:
        text = error_text(exc)
    except TelegramError:
        raise
    except Exception:
        log.exception("button %s failed", action)
        text = SORRY
    try:
        await (query.answer(text[:200], show_alert=True) if text else query.answer())
    except TelegramError as exc:
        log.debug("callback answer refused: %s", exc)


async def _exists(app: Services, collection_id: str) -> bool:
    return await app.collections.exists(collection_id)


async def _act(update: Update, context: Ctx, action: str, parts: list[str]) -> None:
    app = station(context).app
    user = await user_of(update, context)
    query = update.callback_query
    assert query is not None
    if not parts:
        raise NotFound("no object")
    if action == "ca":
        await _pick(update, context, user, parts[0])
        return
    if action == "ka" and len(parts) == 2:
        c = await app.collections.view(user, parts[1])
        await _add(update, context, user, parts[0], c)
        return
    if action == "kn":
        await _add_new(update, context, user, parts[0])
        return
    c = await app.collections.view(user, parts[0])
    if action == "kv":
        await show(update, context, user, c)
    elif action == "kx":
        owner_only(c)
        await answer(update, f"Delete {c.name} and its {c.items} items? (The images stay in "
                     "your history.)", reply_markup=rc.delete_keyboard(c))
    elif action == "ky":
        await app.collections.delete(user, c.id)
        await query.edit_message_text(f"Collection {c.name} deleted.")
    elif action == "kl":
        owner_only(c)
        await answer(update, f"Share {c.name} by a read-only link. How long should it work?",
                     reply_markup=rc.expiry_keyboard(c))
    elif action == "kc" and len(parts) == 2:
        link = await app.collections.create_link(user, c.id, parts[1])
        await query.edit_message_text(rc.link_text(c, link, web_base(app.settings)),
                                      reply_markup=rc.revoke_keyboard(c, [link]))
    elif action == "kk":
        await _links(update, context, user, c)
    elif action == "kr" and len(parts) == 2:
        await app.collections.revoke_link(user, c.id, parts[1])
        await answer(update, f"🚫 Link revoked: it no longer opens {c.name}.")
    elif action == "ke":
        await export(update, context, user, c)
    else:
        raise NotFound("unknown button")


async def _pick(update: Update, context: Ctx, user: Account, media_id: str) -> None:
    app = station(context).app
    await app.media.get(media_id, owner_id=user.id)  # not theirs: not found
    found = [c for c in await visible(app, user) if c.access in ("owner", "edit")]
    text = "Add it to which collection?" if found else "You have no collection yet."
    await answer(update, text, reply_markup=rc.pick_collection_keyboard(media_id, found))


async def _add(update: Update, context: Ctx, user: Account, media_id: str,
               c: Collection) -> None:
    app = station(context).app
    await app.collections.add_output(user, c.id, media_id)
    fresh = await app.collections.view(user, c.id)
    await answer(update, f"📚 Added to {fresh.name} ({rc.plural(fresh.items, 'item')}).",
                 reply_markup=rc.collections_keyboard([fresh]))


async def _add_new(update: Update, context: Ctx, user: Account, media_id: str) -> None:
    """A new collection named after the image's prompt (or the one of that name)."""
    app = station(context).app
    item = await app.media.get(media_id, owner_id=user.id)
    name = "My collection"
    if item.job_id is not None:
        try:
            prompt = str((await app.jobs.get_owned(item.job_id, user.id)).params.get("prompt")
                         or "")
        except NotFound:
            prompt = ""
        name = " ".join(prompt.split())[:40].strip() or name
    try:
        c = await app.collections.create(user, name)
    except Conflict:
        c = next(x for x in await app.collections.mine(user) if x.name.lower() == name.lower())
    await _add(update, context, user, media_id, c)
