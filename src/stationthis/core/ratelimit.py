"""A per-key token bucket: a burst of ``capacity`` actions, then ``rate`` per second.

Used by platforms against floods of commands from one user. In memory and per process: a
limit on how fast one process answers one user, not an accounting of anything.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class RateLimiter:
    def __init__(self, capacity: int, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 remember: int = 10_000) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("capacity must be ≥ 1 and rate > 0")
        self.capacity = capacity
        self.rate = rate  # tokens per second
        self.clock = clock
        self.remember = remember
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        bucket = self._bucket(key)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return True
        return False

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0 when it has one now)."""
        bucket = self._bucket(key)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def first_refusal(self, key: str) -> bool:
        """True once per run of refusals, so a flood is answered once, not once per message."""
        bucket = self._bucket(key)
        if bucket.warned:
            return False
        bucket.warned = True
        return True

    def _bucket(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.capacity), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.remember:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self._buckets.move_to_end(key)
        return bucket
