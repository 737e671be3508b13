"""The Notifier port: how a platform tells a user about a job.

Each platform adapter implements one and registers it with the notification service at
bootstrap; the core never imports a platform. ``address`` is the typed reply address
(``core/replies.py``) the platform put on the job, read back from its JSON.

The notification service routes on ``address.platform`` (the notifier's own name). Two kinds
reach a notifier:

- the job's reply address, e.g. ``TelegramReply(chat=123, message=456)`` — progress and
  completion;
- ``DirectReply(platform, user)`` — a direct message to one of the owner's linked identities
  on this platform, when the owner set the ``notify_everywhere`` preference and the job came
  from another platform — completion only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from stationthis.core.replies import Reply


@dataclass(frozen=True)
class JobNotice:
    """What a notifier needs to render a job's state; plain data, no platform text."""

    job_id: str
    owner_id: str
    tool: str
    state: str  # queued | running | uploading | succeeded | failed | cancelled
    progress: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # media ids
    cost: int | None = None
    released: int | None = None
    error: str | None = None
    error_code: str | None = None
    preview: bytes | None = None


class Notifier(Protocol):
    platform: str

    async def progress(self, address: Reply, notice: JobNotice) -> None:
        """An update while the job runs (coalesced; may be skipped)."""
        ...

    async def finished(self, address: Reply, notice: JobNotice) -> None:
        """The job ended: deliver the images or the error. Called once per job and address."""
        ...
