"""Cook runs → the Discord message that started them. A run's progress arrives as a job
progress at the run's reply address (``DiscordNotifier`` asks ``cook_payload`` for the
message); its end (``CookFinished``, through the outbox) is handled here. Both render the
run as the database has it now, so whichever edit lands last shows the truth."""

from __future__ import annotations

import logging
import time
from typing import Any

from ...core.collections_runs import CookFinished
from ...core.errors import NotFound
from ...core.events import Event
from ...workflows.app import App
from ...workflows.cook import CookStatus
from . import collections_render as cr
from .rest import DiscordError, DiscordRest

log = logging.getLogger(__name__)
TOKEN_SECONDS = 14 * 60  # an interaction token is good for 15 minutes


async def cook_payload(app: App, run_id: str) -> dict[str, Any] | None:
    """The run's message as it stands, or None when the run or its collection is gone."""
    store = app.cook.store
    try:
        run = await store.run(run_id)
        collection = await app.cook.collections.get_any(run.collection_id)
    except NotFound:
        return None
    counts = await store.counts(run_id)
    status = CookStatus(
        run_id=run.id, collection_id=run.collection_id, state=run.state, reason=run.reason,
        total=run.total, done=counts.get("done", 0),
        failed=counts.get("failed", 0) + counts.get("cancelled", 0),
        in_flight=counts.get("claimed", 0) + counts.get("running", 0),
        pending=counts.get("pending", 0), kept=counts.get("kept", 0),
        rejected=counts.get("rejected", 0), config_hash=run.config_hash)
    return cr.cook_status(collection.name, status)


class CookWatch:
    """Subscribed to ``CookFinished``: the run's message shows the end and its buttons."""

    def __init__(self, app: App, rest: DiscordRest) -> None:
        self.app = app
        self.rest = rest

    async def on_event(self, event: Event) -> None:
        if not isinstance(event, CookFinished):
            return
        reply = event.reply or {}
        if reply.get("platform") != "discord":
            return
        payload = await cook_payload(self.app, event.run_id)
        if payload is None:
            return
        token = reply.get("token")
        if isinstance(token, str) and time.time() - float(reply.get("at") or 0) < TOKEN_SECONDS:
            try:
                await self.rest.edit_original(token, payload)
                return
            except DiscordError as exc:
                log.info("could not edit the message of cook run %s: %s", event.run_id, exc)
        channel, mention = reply.get("channel"), reply.get("mention")
        if not channel:
            return
        if mention:
            payload = {**payload, "content": f"<@{mention}> {payload['content']}",
                       "allowed_mentions": {"users": [str(mention)]}}
        try:
            await self.rest.channel_message(str(channel), payload)
        except DiscordError as exc:
            log.info("could not post the end of cook run %s: %s", event.run_id, exc)
