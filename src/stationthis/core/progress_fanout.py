"""A job's progress to every process: ``JobProgressed`` → signal on ``job:<id>`` → back.

The worker that runs a job publishes its progress events here (``ProgressFanout``, subscribed
to the bus in bootstrap); a web process streaming that job (SSE) turns the messages back into
``ProgressMessage`` with ``progress_from_signal``. The row in the database stays the truth: a
lost message only means the stream shows that step later (from the row) or not at all.

Payload: ``{"state": str, "progress": {...}, "preview_b64": str}`` (the preview only when it
is at most ``PREVIEW_MAX`` bytes: big images do not belong on a signal carrier)."""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from typing import Any

from stationthis.core.events import JobProgressed
from stationthis.core.signals import Signals, job_channel

PREVIEW_MAX = 256 * 1024  # bytes of image; base64 makes it ~4/3 bigger on the wire


class ProgressFanout:
    def __init__(self, signals: Signals) -> None:
        self.signals = signals

    async def on_progress(self, event: JobProgressed) -> None:
        await self.signals.publish(job_channel(event.job_id), progress_payload(event))


def progress_payload(event: JobProgressed) -> dict[str, Any]:
    data: dict[str, Any] = {"state": event.state, "progress": event.progress}
    if event.preview and len(event.preview) <= PREVIEW_MAX:
        data["preview_b64"] = base64.b64encode(event.preview).decode("ascii")
    return data


@dataclass(frozen=True)
class ProgressMessage:
    """A job's progress as a ``job:<id>`` message carries it."""

    state: str
    progress: dict[str, Any]
    preview: bytes | None = None


def progress_from_signal(data: dict[str, Any]) -> ProgressMessage | None:
    """The progress a ``job:<id>`` message carries, or None when it carries none (a signal
    carrier is outside our process: what comes from it is checked, never trusted)."""
    state, progress = data.get("state"), data.get("progress")
    if not isinstance(state, str) or not isinstance(progress, dict):
        return None
    preview: bytes | None = None
    encoded = data.get("preview_b64")
    if isinstance(encoded, str) and len(encoded) <= PREVIEW_MAX * 4 // 3 + 4:
        with contextlib.suppress(binascii.Error, ValueError):
            preview = base64.b64decode(encoded, validate=True)
    return ProgressMessage(state, progress, preview)
