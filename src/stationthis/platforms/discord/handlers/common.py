"""What every handler shares: the interaction (who, where, options, attachments), the
platform's shared state, and completing a deferred response — with the result, or with a
short ephemeral error. An ``Interaction`` is the chat kernel's turn (``chat/turn.py``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from stationthis.core.errors import StationError
from stationthis.core.replies import DiscordReply, Reply
from stationthis.core.users import Account, Identity
from stationthis.platforms.chat.flows import SORRY as SORRY
from stationthis.platforms.chat.limits import ChatLimits, busy_text
from stationthis.platforms.chat.texts import error_text as chat_error_text
from stationthis.platforms.discord import render
from stationthis.platforms.discord.rest import DiscordError, DiscordRest, File
from stationthis.workflows.services import Services

log = logging.getLogger(__name__)
PLATFORM = "discord"
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_ATTACHMENTS = 10


@dataclass
class Station:
    """The platform's state shared by the handlers (no per-user state lives here)."""

    app: Services
    rest: DiscordRest
    limiter: ChatLimits
    http: httpx.AsyncClient | None = None  # downloads of attachments
    notifier: Any = None  # DiscordNotifier: the queue note goes through its per-response lock

    def downloader(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0),
                                          follow_redirects=True)
        return self.http


@dataclass
class Interaction:
    """One interaction as Discord sent it, and how we answered it so far."""

    station: Station
    data: dict[str, Any]
    deferred: str = "public"  # public | ephemeral | update (type 6)
    posted: bool = False  # whether a job's status message took the response's place
    received: float = field(default_factory=time.time)
    words = render.WORDS

    @property
    def app(self) -> Services:
        return self.station.app

    @property
    def token(self) -> str:
        return str(self.data["token"])

    @property
    def body(self) -> dict[str, Any]:
        found = self.data.get("data")
        return found if isinstance(found, dict) else {}

    @property
    def discord_user(self) -> dict[str, Any]:
        member = self.data.get("member")
        if isinstance(member, dict) and isinstance(member.get("user"), dict):
            return dict(member["user"])
        user = self.data.get("user")
        return dict(user) if isinstance(user, dict) else {}

    @property
    def user_id(self) -> str:
        return str(self.discord_user.get("id", ""))

    @property
    def guild_id(self) -> str | None:
        found = self.data.get("guild_id")
        return str(found) if found else None

    @property
    def channel_id(self) -> str | None:
        channel = self.data.get("channel_id") or (self.data.get("channel") or {}).get("id")
        return str(channel) if channel else None

    @property
    def can_manage_guild(self) -> bool:
        member = self.data.get("member")
        if not isinstance(member, dict):
            return False
        try:
            permissions = int(member.get("permissions") or 0)
        except (TypeError, ValueError):
            return False
        return bool(permissions & (MANAGE_GUILD | ADMINISTRATOR))

    def options(self) -> dict[str, Any]:
        """The command's options by name (those of its subcommand, for one)."""
        found = self.body.get("options") or []
        while found and found[0].get("type") in (1, 2):  # subcommand (group)
            found = found[0].get("options") or []
        return {o["name"]: o.get("value") for o in found if "name" in o}

    def subcommand(self) -> str | None:
        found = self.body.get("options") or []
        if found and found[0].get("type") == 1:
            return str(found[0]["name"])
        return None

    def attachment(self, attachment_id: Any) -> dict[str, Any] | None:
        resolved = (self.body.get("resolved") or {}).get("attachments") or {}
        found = resolved.get(str(attachment_id))
        return found if isinstance(found, dict) else None

    def attachments(self) -> list[dict[str, Any]]:
        """The attachments given as options, in option order."""
        found = []
        for name, value in self.options().items():
            if name.startswith("image") and value is not None:
                item = self.attachment(value)
                if item is not None:
                    found.append(item)
        return found

    def modal_values(self) -> dict[str, str]:
        values = {}
        for line in self.body.get("components") or []:
            for component in line.get("components") or []:
                if "custom_id" in component:
                    values[str(component["custom_id"])] = str(component.get("value") or "")
        return values

    # ----- who is asking -----------------------------------------------------------------

    async def user(self) -> Account:
        d = self.discord_user
        name = d.get("global_name") or d.get("username")
        return await self.app.users.resolve(Identity(PLATFORM, self.user_id), name)

    async def group(self) -> Account | None:
        if self.guild_id is None:
            return None
        return await self.app.users.resolve(Identity(PLATFORM, self.guild_id),
                                            f"discord server {self.guild_id}", kind="group")

    # ----- answering ---------------------------------------------------------------------

    async def reply(self, payload: dict[str, Any],
                    files: list[File] | None = None) -> dict[str, Any]:
        """Complete the deferred response (edit @original)."""
        return await self.station.rest.edit_original(self.token, payload, files)

    async def say(self, text: str, **kwargs: Any) -> dict[str, Any]:
        return await self.reply(render.message(text, **kwargs))

    async def answer(self, text: str) -> None:
        await self.say(text)

    async def status(self, text: str) -> DiscordReply:
        """The deferred response becomes the job's status message (no buttons)."""
        self.posted = True
        return reply_address(self, await self.say(text, components=[]))

    async def queued(self, address: Reply, text: str) -> None:
        if self.station.notifier is not None:
            await self.station.notifier.queued(address, text)

    async def fail(self, text: str) -> None:
        """An error only the user sees: a deferred public response is removed and an
        ephemeral follow-up says why. A button's message that became a status message says
        it in place (as on Telegram), not under a status that would never change."""
        rest = self.station.rest
        try:
            if self.deferred == "ephemeral" or (self.deferred == "update" and self.posted):
                await rest.edit_original(self.token, render.message(text, components=[]))
                return
            if self.deferred == "public":
                await rest.delete_original(self.token)
            await rest.followup(self.token, render.message(text, ephemeral=True))
        except (DiscordError, httpx.HTTPError) as exc:
            log.info("could not tell the user about an error: %s", type(exc).__name__)

    async def allowed(self, cost: float) -> bool:
        """Every refusal is told: each interaction must be answered anyway."""
        if not self.user_id:
            return True
        verdict = await self.station.limiter.spend(self.user_id, cost)
        if not verdict.allowed:
            await self.fail(busy_text(verdict, cost))
        return verdict.allowed


def error_text(exc: StationError) -> str:
    return chat_error_text(exc, cancel="`/cancel`")


Handler = Callable[[Interaction], Awaitable[None]]


async def run_guarded(handler: Handler, ix: Interaction) -> None:
    """A workflow refusal becomes a short ephemeral answer; anything else an apology."""
    try:
        await handler(ix)
    except StationError as exc:
        await ix.fail(error_text(exc))
    except Exception:
        log.exception("discord handler %s failed", getattr(handler, "__name__", handler))
        await ix.fail(SORRY)


def reply_address(ix: Interaction, message: dict[str, Any]) -> DiscordReply:
    """Where the notifier reports a job: the interaction token (valid 15 minutes) to edit the
    original response, and the channel and user for a normal message after that."""
    return DiscordReply(token=ix.token, at=round(ix.received), channel=ix.channel_id,
                        message=str(message.get("id") or ""), mention=ix.user_id)
