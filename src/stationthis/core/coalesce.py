"""Per-key coalescing of frequent updates: the latest value wins, at most one delivery per
interval per key, never two deliveries of one key at once, each key on its own task.

The first value of a key is delivered at once. Values offered while a delivery is in flight
or during the quiet ``interval`` that follows it replace each other; the latest is delivered
when the interval ends — a trailing update, never dropped for good. The interval runs from
the *end* of a delivery, so consecutive calls start at least ``interval`` apart even when the
clock readings of caller and callee disagree (a slow platform gets interval + its latency).
A closed key (its job finished) gets no further deliveries. The notification service uses it
for job progress; a slow delivery of one key never delays another key.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

# Delivers one value; returns whether a delivery was attempted (False: nothing to wait out).
Send = Callable[[T], Awaitable[bool]]


@dataclass(eq=False)
class _Slot(Generic[T]):
    pending: T | None
    sending: asyncio.Lock = field(default_factory=asyncio.Lock)  # held during a delivery
    task: asyncio.Task[None] | None = None


class Coalescer(Generic[T]):
    def __init__(self, send: Send[T], interval: float, *, remember: int = 10_000) -> None:
        self.send = send
        self.interval = interval
        self._slots: dict[str, _Slot[T]] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    def offer(self, key: str, value: T) -> None:
        """Deliver ``value`` now, or after the key's interval if nothing newer comes."""
        if key in self._closed:
            return
        slot = self._slots.get(key)
        if slot is not None:  # its task is alive and will look at ``pending`` again
            slot.pending = value
            return
        slot = self._slots[key] = _Slot(value)
        slot.task = asyncio.create_task(self._pump(key, slot), name=f"coalesce-{key}")

    def close(self, key: str) -> None:
        """No more deliveries for ``key``; a pending value is dropped."""
        self._closed[key] = None
        if len(self._closed) > self._remember:
            self._closed.popitem(last=False)
        slot = self._slots.get(key)
        if slot is not None:
            slot.pending = None

    def closed(self, key: str) -> bool:
        return key in self._closed

    async def settle(self, key: str) -> None:
        """After ``close``: wait for a delivery in flight to end, then stop the key's task."""
        slot = self._slots.get(key)
        if slot is not None:
            async with slot.sending:
                if slot.task is not None:
                    slot.task.cancel()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [s.task for s in self._slots.values() if s.task is not None]

    def cancel(self) -> None:
        """Drop everything pending and stop every key's task (at shutdown)."""
        for slot in list(self._slots.values()):
            slot.pending = None
            if slot.task is not None:
                slot.task.cancel()

    async def _pump(self, key: str, slot: _Slot[T]) -> None:
        """Deliver the latest value, wait out the interval; end when nothing newer came."""
        try:
            while True:
                async with slot.sending:
                    value, slot.pending = slot.pending, None
                    if value is None or key in self._closed:
                        return
                    delivered = await self.send(value)
                if delivered and self.interval > 0:
                    await asyncio.sleep(self.interval)  # quiet time; newer values accumulate
        finally:  # no await between the last look at ``pending`` and this
            if self._slots.get(key) is slot:
                del self._slots[key]
