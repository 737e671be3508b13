"""The Discord platform object: the interactions endpoint (``POST /discord/interactions``)
inside the web app. Every request's Ed25519 signature is checked (401 otherwise); PING is
answered; commands and components are acknowledged at once — deferred (type 5/6), or a
modal, or an immediate ephemeral refusal — and completed in the background through the REST
API. It has the shape the web app hosts: ``router``, ``start()``, ``stop()``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from stationthis.config import Settings
from stationthis.core.errors import StationError
from stationthis.core.events import CookFinished, CookProgressed
from stationthis.core.ratelimit import PaceLimits
from stationthis.core.replay import ReplayGuard
from stationthis.core.text import invalid_text
from stationthis.platforms.chat.actions import action_of, code_of
from stationthis.platforms.chat.flows import STALE, button_refusal, image_action, is_image_action
from stationthis.platforms.chat.limits import ChatLimits, flood_text
from stationthis.platforms.discord import render
from stationthis.platforms.discord.cook_watch import CookWatch
from stationthis.platforms.discord.handlers import (
    account,
    describe,
    generate,
    inpaint,
    recall,
    reference,
    settings,
    styles,
    train,
)
from stationthis.platforms.discord.handlers import collections as colls
from stationthis.platforms.discord.handlers.buy import buy as _buy
from stationthis.platforms.discord.handlers.common import (
    SORRY,
    Interaction,
    Station,
    error_text,
    run_guarded,
)
from stationthis.platforms.discord.handlers.images import refusal
from stationthis.platforms.discord.ids import unpack
from stationthis.platforms.discord.notifier import DiscordNotifier
from stationthis.platforms.discord.rest import DiscordRest, quiet_http_logs
from stationthis.platforms.discord.verify import SIGNATURE_HEADER, TIMESTAMP_HEADER, Verifier
from stationthis.workflows.app import App

log = logging.getLogger(__name__)
PATH = "/discord/interactions"
MAX_BODY = 1_000_000
PING, COMMAND, COMPONENT, AUTOCOMPLETE, MODAL = 1, 2, 3, 4, 5
INVALID_TEXT = ("Sorry, I can't read that: the text must be valid Unicode (found a lone "
                "surrogate). Nothing was done — please try again.")
Handler = Callable[[Interaction], Awaitable[None]]

# command → (handler, how it is acknowledged: a public or an ephemeral deferred response)
COMMANDS: dict[str, tuple[Handler, str]] = {
    "make": (generate.make, "public"),
    "upscale": (generate.upscale, "public"),
    "rmbg": (generate.rmbg, "public"),
    "inpaint": (inpaint.inpaint, "public"),
    "ref": (reference.ref, "public"),
    "describe": (describe.describe, "public"),
    "loras": (describe.loras, "ephemeral"),
    "settings": (settings.show, "ephemeral"),
    "server": (settings.server, "ephemeral"),
    "balance": (account.balance, "ephemeral"),
    "history": (account.history, "ephemeral"),
    "status": (account.status, "ephemeral"),
    "cancel": (account.cancel, "ephemeral"),
    "link": (account.link, "ephemeral"),
    "models": (account.models, "ephemeral"),
    "help": (account.help_, "ephemeral"),
    "regen": (recall.regen, "public"),
    "seed": (recall.seed, "ephemeral"),
    "card": (recall.card, "ephemeral"),
    "Regenerate": (recall.regen, "public"),  # message commands, on a result
    "Seed": (recall.seed, "ephemeral"),
    "Card": (recall.card, "ephemeral"),
    "train": (train.command, "ephemeral"),
    "collections": (colls.command, "ephemeral"),
    "buy": (_buy, "ephemeral"),  # the link in it is personal
    "styles": (styles.list_, "ephemeral"),
    "style": (styles.style, "ephemeral"),
    "wildcards": (styles.list_wildcards, "ephemeral"),
    "wildcard": (styles.wildcard, "ephemeral"),
}


class DiscordPlatform:
    platform = "discord"

    def __init__(self, app: App, settings: Settings | None = None, *,
                 replay: ReplayGuard | None = None) -> None:
        settings = settings or app.settings
        if not settings.discord_enabled:
            raise ValueError("set STATIONTHIS_DISCORD_APPLICATION_ID, _PUBLIC_KEY and "
                             "_BOT_TOKEN to enable Discord")
        assert settings.discord_bot_token is not None and settings.discord_public_key
        quiet_http_logs()
        self.app = app
        self.settings = settings
        self.verifier = Verifier(settings.discord_public_key)
        self.rest = DiscordRest(settings.discord_api_url, str(settings.discord_application_id),
                                settings.discord_bot_token.get_secret_value())
        self.station = Station(app, self.rest, ChatLimits(
            app.limits, "discord", burst=settings.discord_rate_burst,
            per_minute=settings.discord_rate_per_minute,
            flood_burst=settings.discord_flood_burst))
        self.notifier = DiscordNotifier(app, self.rest, pacer=app.limits.pacer(
            "discord", PaceLimits(settings.discord_edit_interval)))
        self.station.notifier = self.notifier
        app.notifications.register(self.notifier)  # before the app starts: restarts deliver
        self.cook_watch = CookWatch(app, self.rest, self.notifier,
                                    settings.discord_edit_interval)
        app.bus.subscribe(self.cook_watch.on_event, CookProgressed, CookFinished)
        # Interaction ids already answered, in Redis or the database (app.limits): a captured
        # request replayed within the freshness window is refused by every process too.
        self.replay: ReplayGuard = replay or app.limits.replay
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._router = self._make_router()

    @property
    def router(self) -> APIRouter:
        return self._router

    async def start(self) -> None:
        self._running = True
        public = self.settings.public_url
        where = f"{public.rstrip('/')}{PATH}" if public else f"<public url>{PATH}"
        log.info("discord: set the application's Interactions Endpoint URL to %s", where)

    async def stop(self) -> None:
        self._running = False
        self.cook_watch.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        await self.rest.aclose()
        if self.station.http is not None:
            await self.station.http.aclose()
            self.station.http = None

    async def idle(self) -> None:
        """Wait until every background completion has finished (tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # ----- the endpoint -----------------------------------------------------------------------

    def _make_router(self) -> APIRouter:
        router = APIRouter()

        @router.post(PATH, include_in_schema=False)
        async def discord_interactions(request: Request) -> Response:
            body = await request.body()
            if len(body) > MAX_BODY:
                return Response(status_code=413)
            why = self.verifier.check(request.headers.get(SIGNATURE_HEADER),
                                      request.headers.get(TIMESTAMP_HEADER), body)
            if why is not None:
                log.info("discord interaction refused: %s", why)
                return Response("invalid request signature", status_code=401)
            try:
                data = json.loads(body)
                kind = int(data["type"])
            except (ValueError, TypeError, KeyError):
                return Response(status_code=400)
            if kind == PING:
                return JSONResponse({"type": 1})
            if not data.get("id"):
                return Response(status_code=400)
            if not self._running or not data.get("token"):
                return Response(status_code=503)
            if await self._replayed(str(data["id"])):
                log.info("discord interaction %s replayed: refused", data["id"])
                return Response("replayed interaction", status_code=401)
            return JSONResponse(await self._dispatch(Interaction(self.station, data), kind))

        return router

    async def _replayed(self, interaction_id: str) -> bool:
        # Remembered for as long as its signed timestamp can pass the freshness check: up to
        # max_skew ahead of now, then valid until max_skew after that.
        ttl = 2 * self.verifier.max_skew + 60
        return not await self.replay.first_time(f"discord:{interaction_id}", ttl)

    async def _dispatch(self, ix: Interaction, kind: int) -> dict[str, Any]:
        # The flood cap only; what costs is limited where it starts (Interaction.allowed).
        verdict = await self.station.limiter.message(ix.user_id) if ix.user_id else None
        if verdict is not None and not verdict.allowed:
            return ephemeral(flood_text(verdict))
        if invalid_text(ix.data) is not None:  # refused before anything reads or stores it
            return ephemeral(INVALID_TEXT)
        try:
            if kind == COMMAND:
                return await self._command(ix)
            if kind == COMPONENT:
                return await self._component(ix)
            if kind == MODAL:
                return self._modal(ix)
        except StationError as exc:
            return ephemeral(error_text(exc))
        except Exception:
            log.exception("discord interaction of type %s failed", kind)
            return ephemeral(SORRY)
        return ephemeral("That kind of interaction is not supported.")

    async def _command(self, ix: Interaction) -> dict[str, Any]:
        name = str(ix.body.get("name") or "")
        found = COMMANDS.get(name)
        if found is None:
            return ephemeral(f"Unknown command /{name}. Try /help.")
        problem = refusal(ix, self.app.media.max_bytes)
        if problem is not None:
            return ephemeral(problem)
        if name == "train" and ix.subcommand() == "create":
            return render.create_dataset_modal()
        if name == "collections":
            opened = await colls.opening(ix)
            if opened is not None:
                return opened
        handler, mode = found
        return self._defer(ix, handler, mode)

    async def _component(self, ix: Interaction) -> dict[str, Any]:
        action, parts = unpack(str(ix.body.get("custom_id") or ""))
        action = code_of(action)
        values = [str(v) for v in ix.body.get("values") or []]
        found = action_of(action)
        if found is not None:  # the table's buttons: their first id is checked
            if len(parts) != found.ids:
                return ephemeral(STALE)
            problem = await button_refusal(self.app, await ix.user(), action, parts)
            if problem is not None:
                return ephemeral(problem)
        if is_image_action(action):
            return self._defer(ix, lambda i: _image_action(i, action, parts[0]), "public")
        if action == describe.RUN:
            return self._defer(ix, lambda i: describe.run_prompt(i, parts[0], parts[1]),
                               "public")
        if action == "d":
            return self._defer(ix, lambda i: train.pick(i, parts[0]), "ephemeral")
        if action == "da":
            return self._defer(ix, lambda i: train.add_output(i, parts[0], values), "update")
        if action == "c":
            return self._defer(ix, lambda i: account.cancel_button(i, parts[0]), "update")
        if action in ("s", "g") and parts:
            if action == "g" and not ix.can_manage_guild:
                return ephemeral(settings.NOT_MANAGER)
            if parts[0] == "edit":
                return render.settings_modal(action)
            return self._defer(ix, lambda i: settings.pressed(i, action, parts, values),
                               "update")
        if action == "tcap" and len(parts) == 1:
            return await train.caption_form(ix, parts[0])
        if action in ("ts", "tc", "no", "xd", "xc") and 1 <= len(parts) <= 2:
            return self._defer(ix, lambda i: train.pressed(i, action, parts), "update")
        if action == "ca":
            return self._defer(ix, lambda i: colls.pick(i, parts[0]), "ephemeral")
        if action == "cas":
            return colls.picked(ix, parts[0], values, self._defer)
        answer = await colls.component(ix, action, parts, values, self._defer)
        return answer if answer is not None else ephemeral(STALE)

    def _modal(self, ix: Interaction) -> dict[str, Any]:
        action, parts = unpack(str(ix.body.get("custom_id") or ""))
        if action in ("ms", "mg"):
            scope = action[1]
            if scope == "g" and not ix.can_manage_guild:
                return ephemeral(settings.NOT_MANAGER)
            return self._defer(ix, lambda i: settings.modal_submitted(i, scope), "update")
        if action == "mtc":
            return self._defer(ix, train.created, "ephemeral")
        if action == "mcap" and len(parts) == 1:
            return self._defer(ix, lambda i: train.captions_submitted(i, parts[0]), "update")
        answer = colls.modal(ix, action, parts, self._defer)
        return answer if answer is not None else ephemeral(STALE)

    def _defer(self, ix: Interaction, handler: Handler, mode: str) -> dict[str, Any]:
        ix.deferred = mode
        task = asyncio.create_task(run_guarded(handler, ix))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if mode == "update":
            return {"type": 6}
        if mode == "ephemeral":
            return {"type": 5, "data": {"flags": render.EPHEMERAL}}
        return {"type": 5}


async def _image_action(ix: Interaction, code: str, object_id: str) -> None:
    await image_action(ix, ix.app, code, object_id)


def ephemeral(text: str) -> dict[str, Any]:
    """An immediate answer only the user sees."""
    return {"type": 4, "data": render.message(text, ephemeral=True)}
