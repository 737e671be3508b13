"""``ChatTurn``: what the shared chat flows need from a platform for one turn of a
conversation (a command, a button press): who is speaking, where, and how to answer.
Telegram's turn wraps an update, Discord's is the interaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from stationthis.core.replies import Reply
from stationthis.core.users import Account


@dataclass(frozen=True)
class Words:
    """How a platform spells what the shared texts name."""

    group: str  # "the group" (Telegram), "the server" (Discord)
    quote: str = "{}"  # how a command is shown: "{}" or "`{}`"
    bold: str = "{}"  # how a name stands out: "{}" or "**{}**"
    make: str = "/make "  # the make command, as a prompt follows it

    def command(self, text: str) -> str:
        """A command as the user types it: ``/balance`` or `` `/balance` ``."""
        return self.quote.format(text)

    def strong(self, text: str) -> str:
        return self.bold.format(text)


class ChatTurn(Protocol):
    words: Words

    async def user(self) -> Account:
        """The speaker's account (created on first contact)."""
        ...

    async def group(self) -> Account | None:
        """The group account where the turn happens (a Telegram group, a Discord server)."""
        ...

    async def status(self, text: str) -> Reply:
        """Post the status message of a job about to start (or turn the pending response
        into it); returns the job's reply address, which points at that message."""
        ...

    async def queued(self, address: Reply, text: str) -> None:
        """Edit the status message to say where the job is queued, unless progress or the
        result already changed it."""
        ...

    async def answer(self, text: str) -> None:
        """A plain answer in the conversation."""
        ...

    async def fail(self, text: str) -> None:
        """A refusal, where only the speaker sees it if the platform can; once a status
        message was posted, in place of it."""
        ...

    async def allowed(self, cost: float) -> bool:
        """Take work worth ``cost`` (``limits.START``, ``UPLOAD``) from the speaker's
        allowance; when refused the speaker is told when to try again (``limits.busy_text``)
        and the caller does nothing."""
        ...
