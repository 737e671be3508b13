"""Reply addresses: where a job (or a cook run) reports back — its progress and its result.

A platform builds one when it starts a job (a Telegram chat and status message, a Discord
interaction), the job keeps it (the ``reply`` JSON column of ``jobs`` and ``cook_runs``, and
the events in the outbox), and the notification service hands it to that platform's
notifier. They are plain data: the core names the platforms but imports none of them.

``to_json()`` writes exactly the JSON the platforms stored before these types existed, and
``reply_from_json`` reads every shape ever stored, so old rows, running jobs and events
still in the outbox keep working across an upgrade:

- Telegram: ``{"platform": "telegram", "chat": 1, "message": 7, "reply_to": 5}``
  (``message`` and ``reply_to`` optional; an early nested ``"address": {...}`` is read too);
- Discord: ``{"platform": "discord", "token": "…", "at": 1733400000, "channel": "9",
  "message": "11", "mention": "42"}``;
- a linked identity (``notify_everywhere``): ``{"platform": "discord", "user": "42"}``;
- web: ``{"platform": "web"}`` or ``{"platform": "web", "address": {"account_id": "…"}}``;
- command line: ``{"platform": "cli"}``;
- any other platform (a plugin's, or a newer version's): kept as stored (``OtherReply``).

Anything else raises ``BadReply`` (``reply_from_json``) or is logged and dropped
(``read_reply``, for stored rows and events: a bad address never stops a job or a notifier).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

log = logging.getLogger(__name__)

TELEGRAM = "telegram"
DISCORD = "discord"
WEB = "web"
CLI = "cli"


class BadReply(ValueError):
    """A stored reply address this version cannot read."""


@dataclass(frozen=True)
class TelegramReply:
    """A Telegram chat. ``message``: the job's status message (edited while it runs, replaced
    by the result); ``reply_to``: the user's message the result answers."""

    chat: int
    message: int | None = None
    reply_to: int | None = None
    platform: ClassVar[str] = TELEGRAM

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"platform": TELEGRAM, "chat": self.chat}
        if self.message is not None:
            data["message"] = self.message
        if self.reply_to is not None:
            data["reply_to"] = self.reply_to
        return data


@dataclass(frozen=True)
class DiscordReply:
    """A Discord interaction: its ``token`` edits the original response until it expires
    (15 minutes after ``at``, the epoch second it arrived); then the result goes to
    ``channel`` as a bot message that mentions ``mention`` (the user's id)."""

    token: str | None = None
    at: int | float | None = None
    channel: str | None = None
    message: str | None = None  # the original response's id ("" when Discord gave none)
    mention: str | None = None
    platform: ClassVar[str] = DISCORD
    token_seconds: ClassVar[int] = 15 * 60  # how long Discord takes edits through a token

    def usable_token(self, now: float, margin: float = 60.0) -> str | None:
        """The token while it is still good for edits (until ``margin`` seconds before
        Discord stops taking it); None once it expired or when there is none."""
        if not self.token or self.at is None:
            return None
        return self.token if now - self.at < self.token_seconds - margin else None

    def to_json(self) -> dict[str, Any]:
        return {"platform": DISCORD, "token": self.token, "at": self.at,
                "channel": self.channel, "message": self.message, "mention": self.mention}


@dataclass(frozen=True)
class DirectReply:
    """A direct message to one linked identity of the job's owner (``external_id`` on
    ``platform``): the completion notice of ``notify_everywhere``. Never stored on a job."""

    platform: str
    user: str

    def to_json(self) -> dict[str, Any]:
        return {"platform": self.platform, "user": self.user}


@dataclass(frozen=True)
class WebReply:
    """The web studio: nothing is pushed (the page polls / streams); kept for the record."""

    account_id: str | None = None
    platform: ClassVar[str] = WEB

    def to_json(self) -> dict[str, Any]:
        if self.account_id is None:
            return {"platform": WEB}
        return {"platform": WEB, "address": {"account_id": self.account_id}}


@dataclass(frozen=True)
class CliReply:
    """The command line: it waits for the job itself."""

    platform: ClassVar[str] = CLI

    def to_json(self) -> dict[str, Any]:
        return {"platform": CLI}


@dataclass(frozen=True)
class OtherReply:
    """A platform this version has no type for: its JSON, kept as stored."""

    platform: str
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {**self.data, "platform": self.platform}


Reply = TelegramReply | DiscordReply | DirectReply | WebReply | CliReply | OtherReply
REPLY_TYPES = (TelegramReply, DiscordReply, DirectReply, WebReply, CliReply, OtherReply)


def reply_from_json(data: object) -> Reply | None:
    """The reply address stored as ``data`` (None for none); ``BadReply`` if unreadable."""
    if data is None or data == {}:
        return None
    if not isinstance(data, Mapping):
        raise BadReply(f"a reply address is a JSON object, not {type(data).__name__}")
    platform = data.get("platform")
    if not isinstance(platform, str) or not platform:
        raise BadReply("a reply address names its platform")
    values = dict(data)
    nested = values.get("address")
    if platform in (TELEGRAM, DISCORD) and isinstance(nested, Mapping):
        values = {**nested, **{k: v for k, v in values.items() if k != "address"}}
    if platform == TELEGRAM:
        return _telegram(values)
    if platform == DISCORD:
        return _discord(values)
    if platform == WEB:
        account = nested.get("account_id") if isinstance(nested, Mapping) else None
        return WebReply(_text(account, "account_id"))
    if platform == CLI:
        return CliReply()
    if set(values) == {"platform", "user"}:
        return DirectReply(platform, _required_text(values["user"], "user"))
    return OtherReply(platform, {k: v for k, v in values.items() if k != "platform"})


def read_reply(data: object) -> Reply | None:
    """``reply_from_json`` for stored data: an unreadable address is logged and read as
    none (the job runs on; nobody is told)."""
    try:
        return reply_from_json(data)
    except BadReply as exc:
        log.warning("ignoring an unreadable reply address %.200r: %s", data, exc)
        return None


def as_reply(value: Reply | Mapping[str, Any] | None) -> Reply | None:
    """A typed address as is; a JSON-shaped one read strictly (``BadReply``)."""
    if value is None or isinstance(value, REPLY_TYPES):
        return value
    return reply_from_json(value)


def reply_json(value: Reply | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What goes in a ``reply`` column or an event's payload."""
    reply = as_reply(value)
    return reply.to_json() if reply is not None else None


def _telegram(values: dict[str, Any]) -> Reply:
    if values.get("chat") is None:
        if values.get("user") is not None:
            return DirectReply(TELEGRAM, _required_text(values["user"], "user"))
        raise BadReply("a Telegram reply address names its chat")
    return TelegramReply(_int(values["chat"], "chat"), _optional_int(values.get("message"),
                         "message"), _optional_int(values.get("reply_to"), "reply_to"))


def _discord(values: dict[str, Any]) -> Reply:
    if values.get("token") is None and values.get("channel") is None:
        if values.get("user") is not None:
            return DirectReply(DISCORD, _required_text(values["user"], "user"))
        raise BadReply("a Discord reply address names an interaction token or a channel")
    at = values.get("at")
    if at is not None and (isinstance(at, bool) or not isinstance(at, int | float)):
        raise BadReply(f"a Discord reply address's 'at' is a number, not {at!r:.40}")
    return DiscordReply(token=_text(values.get("token"), "token"), at=at,
                        channel=_text(values.get("channel"), "channel"),
                        message=_text(values.get("message"), "message"),
                        mention=_text(values.get("mention"), "mention"))


def _int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise BadReply(f"{name} is a number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise BadReply(f"{name} is a number, not {value!r:.40}")


def _optional_int(value: object, name: str) -> int | None:
    return None if value is None else _int(value, name)


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BadReply(f"{name} is a string, not {value!r:.40}")


def _required_text(value: object, name: str) -> str:
    text = _text(value, name)
    if not text:
        raise BadReply(f"{name} is empty")
    return text
