"""What every handler shares: the container, who is asking (user, group), short error
answers, and ``TelegramTurn``: the chat kernel's view of one update (``chat/turn.py``)."""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from stationthis.core.errors import StationError
from stationthis.core.replies import Reply, TelegramReply
from stationthis.core.users import Account, Identity
from stationthis.platforms.chat.flows import SORRY
from stationthis.platforms.chat.limits import ChatLimits, busy_text
from stationthis.platforms.chat.texts import error_text as error_text
from stationthis.platforms.telegram import render
from stationthis.workflows.services import Services

log = logging.getLogger(__name__)
Ctx = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Ctx], Coroutine[Any, Any, None]]
PLATFORM = "telegram"
ADMIN_STATUSES = ("creator", "administrator")


@dataclass
class Station:
    """The platform's state shared by the handlers (no per-user state lives here)."""

    app: Services
    limiter: ChatLimits
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
            await _tell(update, SORRY)

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


class TelegramTurn:
    """One update as the chat kernel sees it. The status message of a job is a reply to the
    command (or, for a button, a new message in its chat); a refusal after it replaces it."""

    words = render.WORDS

    def __init__(self, update: Update, context: Ctx) -> None:
        self.update = update
        self.context = context
        self._status: Message | None = None

    async def user(self) -> Account:
        return await user_of(self.update, self.context)

    async def group(self) -> Account | None:
        return await group_of(self.update, self.context)

    async def status(self, text: str) -> TelegramReply:
        update = self.update
        chat = update.effective_chat
        assert chat is not None
        source = update.effective_message if update.callback_query is None else None
        status = await answer(update, text)
        assert status is not None
        self._status = status
        return TelegramReply(chat.id, status.message_id,
                             source.message_id if source is not None else None)

    async def queued(self, address: Reply, text: str) -> None:
        notifier = station(self.context).notifier
        if notifier is not None:  # its per-message lock keeps the note behind progress
            await notifier.queued(address, text)

    async def answer(self, text: str) -> None:
        await answer(self.update, text)

    async def fail(self, text: str) -> None:
        if self._status is not None:
            await self._status.edit_text(text)
        else:
            await answer(self.update, text)

    async def edit_status(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Change the status message this turn posted (with buttons, unlike ``fail``)."""
        if self._status is not None:
            await self._status.edit_text(text, reply_markup=markup)
        else:
            await answer(self.update, text, reply_markup=markup)

    async def allowed(self, cost: float) -> bool:
        """A run of refusals is answered once: Telegram needs no answer to each message,
        and a flood answered in full would only flood the chat back."""
        tg = self.update.effective_user
        if tg is None:
            return True
        verdict = await station(self.context).limiter.spend(str(tg.id), cost)
        if not verdict.allowed and verdict.warn:
            await self.fail(busy_text(verdict, cost))
        return verdict.allowed
