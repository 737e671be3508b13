"""The Notifier port: how a platform tells a user about a job.

Each platform adapter implements one and registers it with the notification service at
bootstrap; the core never imports a platform. ``address`` is the opaque reply address the
platform put on the job (e.g. a chat id and the id of a status message to edit).

Addresses always carry ``"platform"`` (the notifier's own name); the notification service
routes on it and passes the whole dict. Two shapes reach a notifier:

- the job's reply address, exactly as the platform stored it on the job, e.g.
  ``{"platform": "telegram", "chat": 123, "message": 456}`` — progress and completion;
- ``{"platform": "<name>", "user": "<external id>"}`` — a direct message to one of the
  owner's linked identities on this platform, when the owner set the ``notify_everywhere``
  preference and the job came from another platform — completion only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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

    async def progress(self, address: dict[str, Any], notice: JobNotice) -> None:
        """An update while the job runs (coalesced; may be skipped)."""
        ...

    async def finished(self, address: dict[str, Any], notice: JobNotice) -> None:
        """The job ended: deliver the images or the error. Called once per job and address."""
        ...
