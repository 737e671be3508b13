"""Cook runs → their status message: "n/total" as pieces finish (``CookProgressed``, at most
one edit per run per ``edit_interval``, the latest wins), and the end of the run
(``CookFinished``, from the outbox) with the review and export buttons. Edits only, so a
repeat is harmless. A collection whose run ended gets no more progress edits until it is
started or a piece is regenerated (``notifier.cooked``, keyed by collection)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram.error import BadRequest, Forbidden, RetryAfter

from stationthis.core.coalesce import Coalescer
from stationthis.core.events import CookFinished, CookProgressed, Event
from stationthis.core.replies import TelegramReply
from stationthis.platforms.telegram import render_collections as rc

if TYPE_CHECKING:
    from stationthis.platforms.telegram.notifier import TelegramNotifier

log = logging.getLogger(__name__)
_FINISHED_MAX = 10_000


async def _name(notifier: TelegramNotifier, collection_id: str) -> str | None:
    return await notifier.app.collections.name_of(collection_id)  # None: deleted meanwhile


class ProgressEdits:
    """Subscribed to ``CookProgressed``: the run's status message shows "n/total"."""

    def __init__(self, notifier: TelegramNotifier) -> None:
        self.notifier = notifier
        self._edits: Coalescer[CookProgressed] = Coalescer(self._send, notifier.edit_interval)

    async def on_event(self, event: Event) -> None:
        assert isinstance(event, CookProgressed)
        if isinstance(event.reply, TelegramReply) and event.state != "finished":
            self._edits.offer(event.run_id, event)  # returns at once: the bus never waits

    def cancel(self) -> None:
        self._edits.cancel()

    async def _send(self, event: CookProgressed) -> bool:
        try:
            if isinstance(event.reply, TelegramReply):
                await progress(self.notifier, event.reply, event)
        except Exception:
            log.exception("could not show the progress of cook run %s", event.run_id)
        return True


async def progress(notifier: TelegramNotifier, address: TelegramReply,
                   event: CookProgressed) -> None:
    chat, message = address.chat, address.message
    collection_id = event.collection_id
    if chat is None or message is None or notifier._stopped or collection_id in notifier.cooked:
        return
    name = await _name(notifier, collection_id)
    if name is None:
        return
    text = rc.cook_progress_text(name, event.state, event.done, event.total, event.failed)
    await _edit(notifier, chat, message, text,
                rc.cook_controls(collection_id, event.state), collection_id, progress=True)


async def finished(notifier: TelegramNotifier, event: Event) -> None:
    assert isinstance(event, CookFinished)
    reply = event.reply
    if not isinstance(reply, TelegramReply) or notifier.bot is None or notifier._stopped:
        return
    chat, message = reply.chat, reply.message
    if message is None:
        return
    notifier.cooked[event.collection_id] = None
    if len(notifier.cooked) > _FINISHED_MAX:
        notifier.cooked.popitem(last=False)
    name = await _name(notifier, event.collection_id)
    if name is None:
        return
    await _edit(notifier, chat, message,
                rc.cook_finished_text(name, event.done, event.total, event.failed),
                rc.cook_controls(event.collection_id, "finished"), event.collection_id)


async def show(notifier: TelegramNotifier, chat: int, message: int, text: str, markup: Any,
               collection_id: str) -> None:
    """A handler's snapshot of a run (after pause, resume, cancel) on its status message: in
    order with the notifier's edits, and never over the end of the run."""
    await _edit(notifier, chat, message, text, markup, collection_id, progress=True)


async def _edit(notifier: TelegramNotifier, chat: int, message: int, text: str,
                markup: Any, collection_id: str, progress: bool = False) -> None:
    bot = notifier.bot
    if bot is None:
        return
    try:
        async with notifier._lock((chat, message)):
            if progress and collection_id in notifier.cooked:  # the run ended meanwhile
                return
            await bot.edit_message_text(text, chat_id=chat, message_id=message,
                                        reply_markup=markup)
    except RetryAfter:
        log.info("cook status of %s skipped: Telegram asked to wait", collection_id)
    except (BadRequest, Forbidden) as exc:
        if "not modified" not in str(exc).lower():
            log.info("cook status of %s refused: %s", collection_id, exc)
