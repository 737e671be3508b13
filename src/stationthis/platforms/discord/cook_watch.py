"""Cook runs → the Discord message that started them. A run's progress (``CookProgressed``,
at most one edit per run per interval, the latest wins; ``DiscordNotifier.cook_progress``
paces it like a job's) and its end (``CookFinished``, through the outbox) are handled here.
Both render the run as the database has it now, so whichever edit lands last shows the
truth."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from stationthis.core.coalesce import Coalescer
from stationthis.core.errors import NotFound
from stationthis.core.events import CookFinished, CookProgressed, Event
from stationthis.core.replies import DiscordReply
from stationthis.platforms.discord import collections_render as cr
from stationthis.platforms.discord.rest import DiscordError, DiscordRest
from stationthis.workflows.services import Services

if TYPE_CHECKING:
    from stationthis.platforms.discord.notifier import DiscordNotifier

log = logging.getLogger(__name__)


async def cook_payload(app: Services, run_id: str) -> dict[str, Any] | None:
    """The run's message as it stands, or None when the run or its collection is gone."""
    try:
        name, status = await app.cook.run_view(run_id)
    except NotFound:
        return None
    return cr.cook_status(name, status)


class CookWatch:
    """Subscribed to ``CookProgressed`` and ``CookFinished``: the run's message shows
    "done/total", then the end and its buttons."""

    def __init__(self, app: Services, rest: DiscordRest, notifier: DiscordNotifier,
                 interval: float = 1.0) -> None:
        self.app = app
        self.rest = rest
        self.notifier = notifier
        self._progress: Coalescer[CookProgressed] = Coalescer(self._send_progress, interval)

    def cancel(self) -> None:
        self._progress.cancel()

    async def _send_progress(self, event: CookProgressed) -> bool:
        try:
            if isinstance(event.reply, DiscordReply):
                await self.notifier.cook_progress(event.reply, event.run_id)
        except Exception:
            log.exception("could not show the progress of cook run %s", event.run_id)
        return True

    async def on_event(self, event: Event) -> None:
        if isinstance(event, CookProgressed):
            if isinstance(event.reply, DiscordReply) and event.state != "finished":
                self._progress.offer(event.run_id, event)  # returns at once
            return
        if not isinstance(event, CookFinished):
            return
        reply = event.reply
        if not isinstance(reply, DiscordReply):
            return
        payload = await cook_payload(self.app, event.run_id)
        if payload is None:
            return
        token = reply.usable_token(time.time())
        if token is not None:
            try:
                await self.rest.edit_original(token, payload)
                return
            except DiscordError as exc:
                log.info("could not edit the message of cook run %s: %s", event.run_id, exc)
        channel, mention = reply.channel, reply.mention
        if not channel:
            return
        if mention:
            payload = {**payload, "content": f"<@{mention}> {payload['content']}",
                       "allowed_mentions": {"users": [str(mention)]}}
        try:
            await self.rest.channel_message(channel, payload)
        except DiscordError as exc:
            log.info("could not post the end of cook run %s: %s", event.run_id, exc)
