"""What every handler shares: the container, who is asking (user, group), short error
answers, the per-user rate limit, and starting a job behind a status message."""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from ....core.errors import StationError
from ....core.jobs import Job
from ....core.ratelimit import ChatLimiter
from ....core.users import Account, Identity
from ....workflows.app import App
from ....workflows.make_image import Quote
from ...chat import error_text as error_text
from .. import render

log = logging.getLogger(__name__)
Ctx = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Ctx], Coroutine[Any, Any, None]]
PLATFORM = "telegram"
ADMIN_STATUSES = ("creator", "administrator")


@dataclass
class Station:
    """The platform's state shared by the handlers (no per-user state lives here)."""

    app: App
    limiter: ChatLimiter
    trigger: str | None = None  # plain-prompt prefix in groups
    username: str = ""
    albums: dict[str, Any] = field(default_factory=dict)  # media_group_id -> pending album
    seen_albums: OrderedDict[str, None] = field(default_factory=OrderedDict)  # rate limit
    notifier: Any = None  # TelegramNotifier: the queue note goes through its per-message lock


def station(context: Ctx) -> Station:
    found = context.bot_data["station"]
    assert isinstance(found, Station)
    return found


def in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


async def user_of(update: Update, context: Ctx) -> Account:
    tg = update.effective_user
    assert tg is not None
    return await station(context).app.users.resolve(
        Identity(PLATFORM, str(tg.id)), tg.full_name or tg.username)


async def group_of(update: Update, context: Ctx) -> Account | None:
    chat = update.effective_chat
    if not in_group(update) or chat is None:
        return None
    return await station(context).app.users.resolve(
        Identity(PLATFORM, str(chat.id)), chat.title, kind="group")


async def is_admin(update: Update, context: Ctx) -> bool:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        return False
    return member.status in ADMIN_STATUSES


async def answer(update: Update, text: str, **kwargs: Any) -> Message | None:
    """Reply to the message (or, for a button, send into its chat)."""
    message = update.effective_message
    if update.callback_query is not None and update.effective_chat is not None:
        return await update.get_bot().send_message(update.effective_chat.id, text, **kwargs)
    if message is None:
        return None
    return await message.reply_text(text, **kwargs)


def guarded(handler: Handler) -> Handler:
    """A workflow refusal becomes a short answer; anything else a short apology."""

    @functools.wraps(handler)
    async def run(update: Update, context: Ctx) -> None:
        try:
            await handler(update, context)
        except StationError as exc:
            await _tell(update, error_text(exc))
        except TelegramError:
            raise
        except Exception:
            log.exception("handler %s failed", handler.__name__)
            await _tell(update, "Something went wrong on our side; nothing was charged.")

    return run


async def _tell(update: Update, text: str) -> None:
    query = update.callback_query
    try:
        if query is not None:
            await query.answer(text[:200], show_alert=True)
        else:
            await answer(update, text)
    except TelegramError as exc:
        log.info("could not answer: %s", exc)


async def submit(
    update: Update, context: Ctx, user: Account, group: Account | None,
    quote: Callable[[Account | None], Awaitable[Quote]],
    run: Callable[[Account | None, dict[str, Any]], Awaitable[Job]],
) -> Job | None:
    """Price it for whoever pays, show the status message, then start the job with that
    message in its reply address (so the notifier edits it, even after a restart)."""
    app = station(context).app
    first = await quote(None)
    payer = await app.groups.payer(user, group, first.points)
    priced = first if payer.id == user.id else await quote(payer)
    if not priced.fits:
        await answer(update, render.short_of_points(priced))
        return None
    chat = update.effective_chat
    assert chat is not None
    source = update.effective_message if update.callback_query is None else None
    status = await answer(update, render.queued_text(priced.tool, priced, payer.id != user.id))
    assert status is not None
    address = {"platform": PLATFORM, "chat": chat.id, "message": status.message_id}
    if source is not None:
        address["reply_to"] = source.message_id
    try:
        job = await run(None if payer.id == user.id else payer, address)
    except StationError as exc:
        await status.edit_text(error_text(exc))
        return None
    bot = station(context)
    if bot.notifier is not None:
        mine = next((a for a in await app.status.active(user) if a.job_id == job.id), None)
        if mine is not None and mine.position is not None:
            await bot.notifier.queued(address, render.queued_text(
                priced.tool, priced, payer.id != user.id, mine.position, mine.eta_seconds))
    return job


