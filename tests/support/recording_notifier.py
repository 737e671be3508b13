"""A Notifier for tests and benches: records every call with its time; can be slow or fail.

    telegram = RecordingNotifier("telegram", delay=0.2)        # a slow platform
    discord = RecordingNotifier("discord", fail_times=1)        # the first call raises
    slow_chat = RecordingNotifier("telegram", delay_of=lambda address, notice:
                                  1.0 if address.get("chat") == 1 else 0.0)

``calls`` holds the calls that returned normally, ``failures`` the ones that raised,
``interrupted`` the ones cancelled half-way (a real platform may still have acted on them).
``max_in_flight`` is the most calls that were ever running at once for one job.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stationthis.core.notify import JobNotice
from stationthis.core.replies import Reply


class PlatformDown(RuntimeError):
    """What a failing RecordingNotifier raises."""


@dataclass(frozen=True)
class Call:
    kind: str  # progress | finished
    address: dict[str, Any]  # the reply address as its stored JSON (``Reply.to_json()``)
    notice: JobNotice
    at: float  # time.monotonic() when the call started
    done_at: float  # … and when it returned (or raised)


@dataclass
class RecordingNotifier:
    platform: str
    delay: float = 0.0  # seconds each call takes (a slow platform)
    fail_times: int = 0  # this many calls (of the kinds in ``fail_on``) raise PlatformDown
    fail_on: frozenset[str] = frozenset({"progress", "finished"})
    # the delay of one call, instead of ``delay``: (address as JSON, notice) → seconds
    delay_of: Callable[[dict[str, Any], JobNotice], float] | None = None
    calls: list[Call] = field(default_factory=list)
    failures: list[Call] = field(default_factory=list)
    interrupted: list[Call] = field(default_factory=list)  # cancelled while running
    max_in_flight: int = 0
    _in_flight: Counter[str] = field(default_factory=Counter)
    _changed: asyncio.Condition | None = None

    async def progress(self, address: Reply, notice: JobNotice) -> None:
        await self._record("progress", address.to_json(), notice)

    async def finished(self, address: Reply, notice: JobNotice) -> None:
        await self._record("finished", address.to_json(), notice)

    # ----- reading what happened -----------------------------------------------------------

    def of(self, kind: str, job_id: str | None = None) -> list[Call]:
        return [c for c in self.calls
                if c.kind == kind and (job_id is None or c.notice.job_id == job_id)]

    def progress_of(self, job_id: str | None = None) -> list[Call]:
        return self.of("progress", job_id)

    def finished_of(self, job_id: str | None = None) -> list[Call]:
        return self.of("finished", job_id)

    async def wait_for(self, kind: str, count: int = 1, job_id: str | None = None,
                       timeout: float = 10.0) -> list[Call]:
        """Wait until at least ``count`` successful calls of ``kind`` were recorded."""
        changed = self._condition()
        async with asyncio.timeout(timeout), changed:
            await changed.wait_for(lambda: len(self.of(kind, job_id)) >= count)
        return self.of(kind, job_id)

    # ----- internals -------------------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _record(self, kind: str, address: dict[str, Any], notice: JobNotice) -> None:
        started = time.monotonic()
        job = notice.job_id
        self._in_flight[job] += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight[job])
        try:
            delay = self.delay_of(address, notice) if self.delay_of else self.delay
            if delay:
                await asyncio.sleep(delay)
            failing = self.fail_times > 0 and kind in self.fail_on
            if failing:
                self.fail_times -= 1
            call = Call(kind, address, notice, started, time.monotonic())
            (self.failures if failing else self.calls).append(call)
            if failing:
                raise PlatformDown(f"{self.platform} is down")
        except asyncio.CancelledError:
            self.interrupted.append(Call(kind, dict(address), notice, started, time.monotonic()))
            raise
        finally:
            self._in_flight[job] -= 1
            async with self._condition():
                self._condition().notify_all()
