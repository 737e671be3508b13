"""Cook runs → their status message: "n/total" as pieces finish (the run's progress comes as
a job progress notice with ``kind: cook``), and the end of the run (``CookFinished``, from
the outbox) with the review and export buttons. Edits only, so a repeat is harmless. A
collection whose run ended gets no more progress edits until it is started or a piece is
regenerated (``notifier.cooked``, keyed by collection)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram.error import BadRequest, Forbidden, RetryAfter

from ...core.collections_runs import CookFinished
from ...core.errors import NotFound
from ...core.events import Event
from ...core.notify import JobNotice
from . import render_collections as rc

if TYPE_CHECKING:
    from .notifier import TelegramNotifier

log = logging.getLogger(__name__)
_FINISHED_MAX = 10_000


def is_cook(notice: JobNotice) -> bool:
    return notice.progress.get("kind") == "cook"


async def _name(notifier: TelegramNotifier, collection_id: str) -> str | None:
    try:
        return (await notifier.app.collections.store.get_any(collection_id)).name
    except NotFound:
        return None  # deleted meanwhile: nothing to say


async def progress(notifier: TelegramNotifier, address: dict[str, Any],
                   notice: JobNotice) -> None:
    chat, message = address.get("chat"), address.get("message")
    collection_id = str(notice.progress.get("collection_id") or "")
    if chat is None or message is None or collection_id in notifier.cooked:
        return
    name = await _name(notifier, collection_id)
    if name is None:
        return
    p = notice.progress
    text = rc.cook_progress_text(name, notice.state, int(p.get("step") or 0),
                                 int(p.get("total") or 0), int(p.get("failed") or 0))
    await _edit(notifier, int(chat), int(message), text,
                rc.cook_controls(collection_id, notice.state), collection_id, progress=True)


async def finished(notifier: TelegramNotifier, event: Event) -> None:
    assert isinstance(event, CookFinished)
    reply = event.reply or {}
    if reply.get("platform") != notifier.platform or notifier.bot is None or notifier._stopped:
        return
    chat, message = reply.get("chat"), reply.get("message")
    if chat is None or message is None:
        return
    notifier.cooked[event.collection_id] = None
    if len(notifier.cooked) > _FINISHED_MAX:
        notifier.cooked.popitem(last=False)
    name = await _name(notifier, event.collection_id)
    if name is None:
        return
    await _edit(notifier, int(chat), int(message),
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
