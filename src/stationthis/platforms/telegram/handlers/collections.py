"""/collections and /collection: list, create, view (thumbnails + buttons), rename, describe,
delete with confirm, share with users, share links, export; the 📚 button under results.

Every call goes through ``app.collections`` with the asking user's account: another user's
collection is "not found", a view-only user's change is refused by the workflow. Buttons
carry ids only; ``pressed`` handles every ``k…``/``q…`` button (cook ones in ``cook.py``)."""

from __future__ import annotations

import logging

from telegram import InputMediaPhoto, Update
from telegram.error import TelegramError

from stationthis.core.collections import Collection
from stationthis.core.errors import InvalidInput, NotFound, StationError
from stationthis.core.users import Account
from stationthis.platforms.chat import collections as shared
from stationthis.platforms.chat.actions import code_of
from stationthis.platforms.chat.flows import NOT_YOURS, SORRY, STALE, object_exists
from stationthis.platforms.telegram import render
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
SHARE = "/collection share NAME USER edit"
MEDIA_ACTIONS = ("ca", "ka", "kn")  # 📚 under a result (``k`` on old messages), its picker


# ----- finding a collection by what the user typed -----------------------------------------

async def find(app: Services, user: Account, words: list[str]) -> tuple[Collection, list[str]]:
    """The collection named by the first words and the words after it."""
    return await shared.find(app, user, words, render.WORDS, "/collections")


def owner_only(c: Collection) -> None:
    """Refused before asking a question the workflow would refuse anyway."""
    shared.check(c, True, render.WORDS, SHARE)


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
        await answer(update, shared.delete_question(c, render.WORDS),
                     reply_markup=rc.delete_keyboard(c))
    elif sub in ("share", "unshare"):
        await _share(update, context, user, sub, args)
    elif sub == "link":
        c, _ = await find(app, user, args)
        owner_only(c)
        await answer(update, shared.link_question(c, render.WORDS),
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
    c = await shared.named(app, user, " ".join(args[:-1]), render.WORDS, "/collections")
    other = args[-1]
    if other.startswith("@"):
        raise InvalidInput("I can't look up Telegram usernames: ask them for their identity "
                           "(/collection shows it, e.g. telegram:123) and share with that.")
    if sub == "unshare":
        permission = "remove"
    await answer(update, await shared.share(app, user, c, other, permission, render.WORDS,
                                            "/collections"))


# ----- showing -------------------------------------------------------------------------------

async def show(update: Update, context: Ctx, user: Account, c: Collection) -> None:
    """A few thumbnails (an album, or one photo), then the text with the buttons."""
    app = station(context).app
    page = await app.collections.items(user, c.id, 1, 20)
    chat = update.effective_chat
    assert chat is not None
    thumbs = [await app.collections.thumbnail(user, c.id, item.id)
              for item in page.items[:THUMBS]]
    await send_thumbs(context, chat.id, thumbs)
    shares = await app.collections.shares(user, c.id) if page.collection.access == "owner" \
        else []
    prompts = {item.id: await shared.prompt_of(app, item.media_id) for item in page.items}
    await answer(update, rc.collection_text(page.collection, page.items, page.total, shares,
                                            {k: v for k, v in prompts.items() if v}),
                 reply_markup=rc.collection_keyboard(page.collection))


async def send_thumbs(context: Ctx, chat_id: int, thumbs: list[bytes]) -> None:
    """Thumbnails before a list: one photo, or an album."""
    if len(thumbs) == 1:
        await context.bot.send_photo(chat_id, thumbs[0])
    elif thumbs:
        await context.bot.send_media_group(chat_id, [InputMediaPhoto(t) for t in thumbs])


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
    for made in await shared.export(app, user, c):
        await context.bot.send_document(chat.id, made.data, filename=made.name,
                                        caption=made.caption)


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
            text = shared.NOT_FOUND
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
        await answer(update, shared.delete_question(c, render.WORDS),
                     reply_markup=rc.delete_keyboard(c))
    elif action == "ky":
        await app.collections.delete(user, c.id)
        await query.edit_message_text(shared.deleted_text(c, render.WORDS))
    elif action == "kl":
        owner_only(c)
        await answer(update, shared.link_question(c, render.WORDS),
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
    found = await shared.pickable(station(context).app, user, media_id)
    await answer(update, shared.PICK if found else shared.NONE_YET,
                 reply_markup=rc.pick_collection_keyboard(media_id, found))


async def _add(update: Update, context: Ctx, user: Account, media_id: str,
               c: Collection) -> None:
    await _added(update, await shared.add_output(station(context).app, user, c.id, media_id))


async def _add_new(update: Update, context: Ctx, user: Account, media_id: str) -> None:
    """A new collection named after the image's prompt (or the one of that name)."""
    await _added(update, await shared.add_to_new(station(context).app, user, media_id))


async def _added(update: Update, c: Collection) -> None:
    await answer(update, shared.added_text(c, render.WORDS),
                 reply_markup=rc.collections_keyboard([c]))
