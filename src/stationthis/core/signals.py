"""Signals between processes: things that may be lost (wake-ups, cancel, progress fan-out).

The database is the truth; a signal only makes a process notice a change sooner than its
own polling would. Losing every signal costs latency, never a job, a point or a message.

Channels:
  ``wake``          a job became runnable (any worker may claim it)
  ``cancel``        ``{"job_id": …}``: a cancel was requested for a running job
  ``job:<id>``      that job's progress (the payload of a ``JobProgressed``)

``LocalSignals`` serves one process (the embedded default). A Redis implementation
(``redis_signals.RedisSignals``) serves many; both never raise to a publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

Message = tuple[str, dict[str, Any]]


class Subscription(Protocol):
    async def get(self, timeout: float | None = None) -> Message | None:
        """The next message, or None after ``timeout`` seconds without one."""
        ...


class Signals(Protocol):
    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        """Best effort: never raises (a lost signal is only latency)."""
        ...

    def subscribe(self, *channels: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        ...

    async def ping(self) -> bool:
        """Whether the signal carrier is reachable (always True in one process)."""
        ...

    async def close(self) -> None: ...


class _LocalSubscription:
    def __init__(self, size: int = 1024) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=size)

    async def get(self, timeout: float | None = None) -> Message | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class LocalSignals:
    """In-process signals: a dict of channel → subscriber queues. A slow subscriber drops
    messages (as Redis pub/sub would for a disconnected one), never blocks a publisher."""

    def __init__(self) -> None:
        self._subs: dict[str, set[_LocalSubscription]] = {}

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        for sub in list(self._subs.get(channel, ())):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait((channel, data))

    @contextlib.asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        sub = _LocalSubscription()
        for channel in channels:
            self._subs.setdefault(channel, set()).add(sub)
        try:
            yield sub
        finally:
            for channel in channels:
                subs = self._subs.get(channel)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[channel]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._subs.clear()


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"
