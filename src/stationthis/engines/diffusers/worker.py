"""The link between a run's worker thread and the event loop that owns the run."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from stationthis.core.engine import EngineEvent
from stationthis.engines.local_runs import RunCancelled

LOCK_POLL_S = 0.1


class Cancelled(RunCancelled):
    """Raised inside the worker thread when the run was asked to stop."""


class Reporter:
    """Handed to the CPU/GPU work: sends events back to the loop and checks for cancel."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        emit: Callable[[EngineEvent], None],
        cancelled: threading.Event,
    ) -> None:
        self._loop = loop
        self._emit = emit
        self._cancelled = cancelled

    def event(self, event: EngineEvent) -> None:
        """Emit ``event`` on the loop's thread (safe to call from any thread)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening now
            self._loop.call_soon_threadsafe(self._emit, event)

    def check(self) -> None:
        """Raise ``Cancelled`` if the run was asked to stop."""
        if self._cancelled.is_set():
            raise Cancelled()

    def acquire(self, lock: threading.Lock) -> None:
        """Take ``lock``, giving up with ``Cancelled`` if the run is stopped while waiting."""
        while not lock.acquire(timeout=LOCK_POLL_S):
            self.check()
        if self._cancelled.is_set():
            lock.release()
            raise Cancelled()
