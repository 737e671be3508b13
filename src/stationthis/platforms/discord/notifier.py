"""Job events → Discord. A job's reply address holds the interaction token of the command
that started it: while the token is valid (15 minutes) progress edits that response (at most
one edit per ``edit_interval`` per response, none while Discord's 429 ``retry_after`` runs)
and the result replaces it — text, images as attachments (10 per message, the rest in
follow-ups) and the buttons. After that, or when the edit is refused, the result goes to the
channel as a normal bot message that mentions the user."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any

from stationthis.core.errors import NotFound
from stationthis.core.media import MediaItem
from stationthis.core.notify import JobNotice
from stationthis.core.ratelimit import LocalPacer, Pacer
from stationthis.core.replies import DirectReply, DiscordReply, Reply
from stationthis.platforms.chat.actions import painter_base
from stationthis.platforms.chat.describe import finished_prompts, prompts_text
from stationthis.platforms.discord import render
from stationthis.platforms.discord.cook_watch import cook_payload
from stationthis.platforms.discord.rest import (
    MAX_FILES,
    DiscordError,
    DiscordRest,
    File,
    RateLimited,
)
from stationthis.workflows.app import App

log = logging.getLogger(__name__)
TOKEN_MARGIN = 60  # stop using a token this long before Discord does


class DiscordNotifier:
    platform = "discord"

    def __init__(self, app: App, rest: DiscordRest, *, edit_interval: float = 1.0,
                 pacer: Pacer | None = None) -> None:
        self.app = app
        self.rest = rest
        # per response (its token): shared between processes when the pacer is
        self.pacer: Pacer = pacer or LocalPacer(edit_interval)
        # responses that progress or the result already changed (the queue note must not
        # overwrite them), and one lock per response so the note and the edits land in order
        self._touched: OrderedDict[str, None] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def queued(self, address: Reply, text: str) -> None:
        """The handler's note on a job just queued (its place, ETA): only while neither
        progress nor the result has changed the response yet."""
        token = _usable_token(address)
        if token is None:
            return
        key = _pace_key(token)
        async with self._lock(key):
            if key in self._touched or not await self.pacer.try_send(key, interval=False):
                return
            try:
                await self.rest.call("PATCH", self._original(token), render.message(text),
                                     auth=False, retries=False)
            except RateLimited as exc:
                await self.pacer.pause(key, exc.retry_after)
            except DiscordError as exc:
                log.info("queue note refused: %s", exc)

    def _lock(self, key: str) -> asyncio.Lock:
        if len(self._locks) > 1000:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(key, asyncio.Lock())

    def _touch(self, key: str) -> None:
        self._touched[key] = None
        if len(self._touched) > 1000:
            self._touched.popitem(last=False)

    # ----- the Notifier port ----------------------------------------------------------------

    async def progress(self, address: Reply, notice: JobNotice) -> None:
        token = _usable_token(address)
        if token is None:
            return
        if not await self.pacer.try_send(_pace_key(token)):
            return  # too soon, or Discord asked us to wait: the next update comes anyway
        await self._edit_progress(token, render.message(render.progress_text(notice)),
                                  f"job {notice.job_id}")

    async def cook_progress(self, address: Reply, run_id: str) -> None:
        """A cook run's "done/total" (``CookWatch`` calls it on ``CookProgressed``), paced
        like a job's progress."""
        token = _usable_token(address)
        if token is None:
            return
        if not await self.pacer.try_send(_pace_key(token)):
            return
        payload = await cook_payload(self.app, run_id)
        if payload is not None:
            await self._edit_progress(token, payload, f"cook run {run_id}")

    async def _edit_progress(self, token: str, payload: dict[str, Any], what: str) -> None:
        key = _pace_key(token)
        async with self._lock(key):
            self._touch(key)
            try:
                await self.rest.call("PATCH", self._original(token), payload,
                                     auth=False, retries=False)
            except RateLimited as exc:
                await self.pacer.pause(key, exc.retry_after)
            except DiscordError as exc:
                log.info("progress edit of %s refused: %s", what, exc)

    async def finished(self, address: Reply, notice: JobNotice) -> None:
        token = address.token if isinstance(address, DiscordReply) else None
        payload, files, more = await self._result(notice)
        if token:  # a note in flight lands first; one still to come never
            async with self._lock(_pace_key(token)):
                self._touch(_pace_key(token))
        if token and _usable_token(address) is not None:
            try:
                await self.rest.edit_original(token, payload, files)
                for chunk in more:
                    await self.rest.followup(token, render.message(), chunk)
                return
            except DiscordError as exc:
                log.info("could not complete the response of job %s (%s): posting instead",
                         notice.job_id, exc)
        channel = await self._channel(address)
        if channel is None:
            log.warning("job %s finished but its Discord address has no channel", notice.job_id)
            return
        mention = address.mention if isinstance(address, DiscordReply) else None
        if mention:
            payload = {**payload, "content": render.clip(f"<@{mention}> {payload['content']}"),
                       "allowed_mentions": {"users": [str(mention)]}}
        await self.rest.channel_message(channel, payload, files)
        for chunk in more:
            await self.rest.channel_message(channel, render.message(), chunk)

    # ----- building the result ---------------------------------------------------------------

    async def _result(self, notice: JobNotice
                      ) -> tuple[dict[str, Any], list[File], list[list[File]]]:
        if notice.state != "succeeded":
            return render.message(render.failed_text(notice), components=[]), [], []
        items = [await self.app.media.get(m) for m in notice.outputs]
        images = [i for i in items if i.is_image]
        if notice.tool == "train" or not images:
            prompts = None if notice.tool == "train" else await finished_prompts(self.app,
                                                                                 notice)
            if prompts is not None:  # a describe: its prompts, each with ▶️
                return render.message(prompts_text(notice, prompts, render.CONTENT_MAX),
                                      components=render.prompts_components(
                                          notice.job_id, len(prompts))), [], []
            if notice.tool == "train" or not notice.outputs:
                text = render.model_ready_text(await self._model_of(notice), notice)
            else:
                text = render.result_text(notice, 0)
            return render.message(text, components=[]), [], []
        files = [await self._file(i) for i in images]
        payload = render.message(render.result_text(notice, len(images)), components=render
                                 .result_components(notice.job_id, [i.id for i in images],
                                                    painter_base(self.app)))
        rest = [files[n:n + MAX_FILES] for n in range(MAX_FILES, len(files), MAX_FILES)]
        return payload, files[:MAX_FILES], rest

    async def _file(self, item: MediaItem) -> File:
        return File(f"{item.id}.png", await self.app.media.read(item), item.media_type)

    async def _channel(self, address: Reply) -> str | None:
        if isinstance(address, DiscordReply):
            return address.channel or None
        if not isinstance(address, DirectReply):
            return None
        user = address.user  # a direct message to a linked identity
        try:
            found = await self.rest.call("POST", "/users/@me/channels",
                                         {"recipient_id": str(user)})
        except DiscordError as exc:
            log.info("cannot open a direct message: %s", exc)
            return None
        return str(found["id"]) if isinstance(found, dict) and found.get("id") else None

    def _original(self, token: str) -> str:
        return f"/webhooks/{self.rest.application_id}/{token}/messages/@original"

    async def _model_of(self, notice: JobNotice) -> Any:
        with contextlib.suppress(NotFound):
            return await self.app.training.model_of_job(notice.job_id)
        return None


def _pace_key(token: str) -> str:
    """A response's pacing key: its token's hash (the token itself stays out of Redis)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _usable_token(address: Reply) -> str | None:
    """The interaction token while it is still good for edits."""
    if not isinstance(address, DiscordReply):
        return None
    return address.usable_token(time.time(), margin=TOKEN_MARGIN)
