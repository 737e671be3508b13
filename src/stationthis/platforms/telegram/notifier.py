"""Job events → Telegram: the status message of a job is edited as it progresses (at most one
edit per ``edit_interval`` per chat, pausing when Telegram answers 429; with a shared pacer
also at most 20 messages a minute per group and 30 a second per bot, across processes) and
then replaced by the result — a photo, an album plus a message with the buttons, or the error
with the points released. Everything it needs is in the job's reply address, so it works
after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Bot, InputMediaPhoto, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter

from stationthis.core.errors import NotFound
from stationthis.core.events import CookFinished, CookProgressed
from stationthis.core.media import MediaItem
from stationthis.core.notify import JobNotice
from stationthis.core.ratelimit import LocalPacer, Pacer
from stationthis.core.replies import DirectReply, Reply, TelegramReply
from stationthis.platforms.chat.actions import painter_base
from stationthis.platforms.chat.describe import finished_prompts, prompts_text
from stationthis.platforms.telegram import cook_notify, render
from stationthis.workflows.app import App

log = logging.getLogger(__name__)
T = TypeVar("T")
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # larger images go as documents
ALBUM_MAX = 10
TEXT_MAX = 4096  # a message's text
READY_TIMEOUT = 60.0
RESULT_WAIT = 3.0  # a result waits at most this long for its chat's turn, then goes


class TelegramNotifier:
    platform = "telegram"

    def __init__(self, app: App, *, edit_interval: float = 1.0, max_retries: int = 3,
                 pacer: Pacer | None = None) -> None:
        self.app = app
        self.edit_interval = edit_interval
        self.max_retries = max_retries
        # when a chat may get the next message (shared between processes when it is)
        self.pacer: Pacer = pacer or LocalPacer(edit_interval)
        self.bot: Bot | None = None
        self._stopped = False
        self._ready = asyncio.Event()
        self._delivering: set[asyncio.Task[Any]] = set()
        # status messages that progress or the result already changed (the queue note must
        # not overwrite them), and one lock per status message so edits land in order
        # (with the progress text shown last: the same text is never sent again, an edit
        # Telegram would refuse as "message is not modified")
        self._touched: OrderedDict[tuple[int, int], str | None] = OrderedDict()
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}
        self.cooked: OrderedDict[str, None] = OrderedDict()  # collections whose run ended
        self.cook_progress = cook_notify.ProgressEdits(self)
        app.bus.subscribe(self.cook_progress.on_event, CookProgressed)
        app.bus.subscribe(functools.partial(cook_notify.finished, self), CookFinished)

    def attach(self, bot: Bot) -> None:
        """Called once the bot is initialised; deliveries wait until then."""
        self.bot = bot
        self._stopped = False
        self._ready.set()

    def detach(self) -> None:
        self._ready.clear()
        self._stopped = True
        self.cook_progress.cancel()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (bounded) for results being delivered now, before the bot stops."""
        pending = [t for t in self._delivering if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def _bot(self) -> Bot:
        if self._stopped:  # shutting down: fail now, the delivery claim is given back
            raise RuntimeError("the Telegram bot is stopped")
        async with asyncio.timeout(READY_TIMEOUT):  # starting: the app may deliver first
            await self._ready.wait()
        assert self.bot is not None
        return self.bot

    # ----- the Notifier port ----------------------------------------------------------------

    async def progress(self, address: Reply, notice: JobNotice) -> None:
        chat, message = _chat(address), _message(address)
        if chat is None or message is None or self._stopped:
            return
        key = (chat, message)
        text = render.progress_text(notice)
        if self._touched.get(key) == text:
            return  # nothing new to show
        if not await self.pacer.try_send(str(chat), group=chat < 0):
            return  # too soon, or Telegram asked us to wait: the next update comes anyway
        bot = await self._bot()
        try:
            async with self._lock(key):
                if self._touched.get(key) == text:
                    return
                self._touch(key, text)
                await bot.edit_message_text(text, chat_id=chat, message_id=message)
        except RetryAfter as exc:
            await self.pacer.pause(str(chat), _seconds(exc.retry_after))
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.info("progress edit of job %s refused: %s", notice.job_id, exc)

    async def queued(self, address: Reply, text: str) -> None:
        """The handler's note on a job just queued (its place, ETA): only while neither
        progress nor the result has changed the status message yet."""
        chat, message = _chat(address), _message(address)
        if chat is None or message is None:
            return
        key = (chat, message)
        bot = await self._bot()
        async with self._lock(key):
            if key in self._touched:
                return
            if not await self.pacer.try_send(str(chat), group=chat < 0, interval=False):
                return
            try:
                await bot.edit_message_text(text, chat_id=chat, message_id=message)
            except RetryAfter as exc:
                await self.pacer.pause(str(chat), _seconds(exc.retry_after))
            except BadRequest as exc:
                log.info("queue note refused: %s", exc)

    async def finished(self, address: Reply, notice: JobNotice) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._delivering.add(task)
        chat, message = _chat(address), _message(address)
        key = (chat, message) if chat is not None and message is not None else None
        try:
            if key is None:
                await self._finished(address, notice)
            else:
                self._touch(key)
                async with self._lock(key):
                    await self._finished(address, notice)
                self._locks.pop(key, None)
        finally:
            if task is not None:
                self._delivering.discard(task)

    async def _finished(self, address: Reply, notice: JobNotice) -> None:
        chat = _chat(address)
        if chat is None:
            return
        status = _message(address)
        reply_to = address.reply_to if isinstance(address, TelegramReply) else None
        if notice.state != "succeeded":
            await self._say(chat, status, render.failed_text(notice), reply_to)
            return
        if notice.tool == "train" or not notice.outputs:
            model = await self._model_of(notice)
            await self._say(chat, status, render.model_ready_text(model, notice), reply_to)
            return
        items = [await self.app.media.get(m) for m in notice.outputs]
        images = [i for i in items if i.is_image]
        if not images:
            prompts = await finished_prompts(self.app, notice)  # a describe: its prompts
            if prompts is not None:
                await self._say(chat, status, prompts_text(notice, prompts, TEXT_MAX), reply_to,
                                render.prompts_keyboard(notice.job_id, len(prompts)))
                return
            await self._say(chat, status, render.result_text(notice, 0), reply_to)
            return
        await self._deliver_images(chat, reply_to, notice, images)
        if status is not None:
            await self._delete(chat, status)

    def _lock(self, key: tuple[int, int]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _touch(self, key: tuple[int, int], text: str | None = None) -> None:
        self._touched[key] = text
        self._touched.move_to_end(key)
        if len(self._touched) > 10_000:
            self._touched.popitem(last=False)

    # ----- delivery ---------------------------------------------------------------------

    async def _deliver_images(self, chat: int, reply_to: Any, notice: JobNotice,
                              images: list[MediaItem]) -> None:
        bot = await self._bot()
        ids = [i.id for i in images]
        caption = render.result_text(notice, len(images))
        keyboard = render.result_keyboard(notice.job_id, ids, painter_base(self.app))
        reply = _reply(reply_to)
        if len(images) == 1:
            data = await self.app.media.read(images[0])
            if len(data) > PHOTO_MAX_BYTES:
                await self._retry(chat, lambda: bot.send_document(
                    chat, data, filename=f"{images[0].id}.png", caption=caption,
                    reply_markup=keyboard, reply_parameters=reply))
            else:
                await self._retry(chat, lambda: bot.send_photo(
                    chat, data, caption=caption, reply_markup=keyboard, reply_parameters=reply))
            return
        for start in range(0, len(images), ALBUM_MAX):
            chunk = images[start:start + ALBUM_MAX]
            media = [InputMediaPhoto(await self.app.media.read(item),
                                     caption=caption if start == 0 and n == 0 else None)
                     for n, item in enumerate(chunk)]
            await self._retry(chat, functools.partial(_send_album, bot, chat, media, reply))
        await self._retry(chat, lambda: bot.send_message(
            chat, f"Buttons for your {len(images)} images (numbered as in the album):",
            reply_markup=keyboard))

    async def _say(self, chat: int, status: Any, text: str, reply_to: Any,
                   markup: Any = None) -> None:
        """Replace the status message by ``text`` (or send it, if there is none any more)."""
        bot = await self._bot()
        if status is not None:
            try:
                await self._retry(chat, lambda: bot.edit_message_text(
                    text, chat_id=chat, message_id=int(status), reply_markup=markup))
                return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("could not edit status message in %s: %s", chat, exc)
        await self._retry(chat, lambda: bot.send_message(
            chat, text, reply_parameters=_reply(reply_to), reply_markup=markup))

    async def _delete(self, chat: int, message: int) -> None:
        bot = await self._bot()
        with contextlib.suppress(BadRequest, Forbidden):
            await self._retry(chat, lambda: bot.delete_message(chat, message), pace=False)

    async def _retry(self, chat: int, call: Callable[[], Awaitable[T]], *,
                     pace: bool = True) -> T:
        """A message that must go: it waits (briefly) for the chat's turn; Telegram's 429 says
        how long to wait (every process pauses the chat): wait, then try again (a few times)."""
        for attempt in range(self.max_retries + 1):
            if pace:
                await self.pacer.before_send(str(chat), group=chat < 0, wait=RESULT_WAIT)
            try:
                return await call()
            except RetryAfter as exc:
                if attempt == self.max_retries:
                    raise
                await self.pacer.pause(str(chat), _seconds(exc.retry_after))
                await asyncio.sleep(_seconds(exc.retry_after))
        raise AssertionError("unreachable")

    async def _model_of(self, notice: JobNotice) -> Any:
        with contextlib.suppress(NotFound):
            return await self.app.training.model_of_job(notice.job_id)
        return None


async def _send_album(bot: Bot, chat: int, media: list[InputMediaPhoto],
                      reply: ReplyParameters | None) -> Any:
    if len(media) == 1:  # a lone rest of a batch: albums need two items
        return await bot.send_photo(chat, media[0].media, caption=media[0].caption,
                                    reply_parameters=reply)
    return await bot.send_media_group(chat, media, reply_parameters=reply)


def _reply(reply_to: Any) -> ReplyParameters | None:
    """Reply to the user's request, if it is still there."""
    if not reply_to:
        return None
    return ReplyParameters(int(reply_to), allow_sending_without_reply=True)


def _chat(address: Reply) -> int | None:
    """The chat of a job's address, or the private chat of a linked identity."""
    if isinstance(address, TelegramReply):
        return address.chat
    if isinstance(address, DirectReply) and address.platform == TelegramReply.platform:
        try:
            return int(address.user)
        except ValueError:
            return None
    return None


def _message(address: Reply) -> int | None:
    """The job's status message, if it has one."""
    return address.message if isinstance(address, TelegramReply) else None


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)

